import { z } from 'zod';
import { withIdempotencyKey } from './mutations.ts';
import { idSchema } from './text.ts';

/**
 * Carriers: the accounts an org's messages leave and arrive through. Connecting one is an
 * admin's act; its secret is sealed at rest and never comes back over the API.
 */
export const CARRIER_KINDS = ['twilio', 'whatsapp_cloud', 'rabbitmq'] as const;
export type CarrierKind = (typeof CARRIER_KINDS)[number];
export const CARRIER_CHANNELS = ['sms', 'whatsapp'] as const;
export type CarrierChannel = (typeof CARRIER_CHANNELS)[number];

export interface CarrierInfo {
  id: string;
  kind: CarrierKind;
  channels: CarrierChannel[];
  /** The account and the end of its secret, e.g. `AC12…cdef · token …9f3a`. */
  label: string;
  /** Where calls ring before voicemail. */
  forwardTo: string | null;
  createdAt: string;
  /** Where the carrier must be told to send inbound messages and delivery reports (absolute when PUBLIC_URL is set). */
  webhooks: { sms: string; status: string; voice: string } | { whatsapp: string } | Record<string, never>;
}

const channels = z
  .array(z.enum(CARRIER_CHANNELS))
  .min(1, 'Give at least one channel')
  .max(CARRIER_CHANNELS.length)
  .refine((list) => new Set(list).size === list.length, 'A channel appears twice');

/** A queue name RabbitMQ accepts (up to 255 bytes; kept to a safe alphabet). */
const queueName = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'A queue name has letters, digits and _ . : - only');

export const connectCarrierInput = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('twilio'),
    channels: channels.default(['sms']),
    accountSid: z.string().regex(/^AC[0-9a-f]{32}$/, 'An Account SID is AC followed by 32 hexadecimal digits'),
    authToken: z.string().regex(/^[0-9a-f]{32}$/, 'An Auth Token is 32 hexadecimal digits'),
    /** Calls to the org's numbers ring this phone (E.164) before voicemail; absent: voicemail at once. */
    forwardTo: z
      .string()
      .regex(/^\+[1-9][0-9]{7,14}$/, 'forwardTo: a phone number in E.164 form, such as +15551234567')
      .optional(),
    ...withIdempotencyKey,
  }),
  /**
   * A RabbitMQ bridge (a WhatsApp agent portal's broker, say): inbound messages and status
   * updates are consumed from its queues; with `outboundQueue`, replies on `channels` are
   * published there (it is then the org's carrier for them).
   */
  z.strictObject({
    kind: z.literal('rabbitmq'),
    url: z
      .string()
      .max(500)
      .regex(/^amqps?:\/\/[^\s]+$/, 'The broker URL is amqp://user:password@host:port/vhost (or amqps://)'),
    inboundQueue: queueName.default('INBOUND_WHATSAPP_MESSAGES'),
    statusQueue: queueName.default('WHATSAPP_STATUS_UPDATES'),
    outboundQueue: queueName.optional(),
    deadLetterQueue: queueName.default('TANDEM_DEAD_LETTERS'),
    channels: z.array(z.enum(CARRIER_CHANNELS)).max(CARRIER_CHANNELS.length).default(['whatsapp']),
    ...withIdempotencyKey,
  }),
  /** Meta's WhatsApp Cloud API: one WhatsApp Business phone number of an app. */
  z.strictObject({
    kind: z.literal('whatsapp_cloud'),
    channels: z.tuple([z.literal('whatsapp')]).default(['whatsapp']),
    phoneNumberId: z.string().regex(/^\d{5,20}$/, 'The phone number ID is the number Meta shows under API setup (digits)'),
    accessToken: z
      .string()
      .min(20, 'The access token is the long token of a system user')
      .max(1000)
      .regex(/^[A-Za-z0-9_.|-]+$/, 'The access token has letters, digits and _ . | - only'),
    appSecret: z.string().regex(/^[0-9a-f]{32}$/, "The app secret is 32 hexadecimal digits (the app's Basic settings)"),
    /** What Meta's webhook handshake must echo (you choose it, and type the same in Meta's app dashboard). */
    verifyToken: z
      .string()
      .min(8, 'Choose a verify token of at least 8 characters')
      .max(128)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'The verify token has letters, digits and _ . : - only'),
    ...withIdempotencyKey,
  }),
]);
export type ConnectCarrierInput = z.infer<typeof connectCarrierInput>;

export const disconnectCarrierInput = z.strictObject({ id: idSchema, ...withIdempotencyKey });
