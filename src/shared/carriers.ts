import { z } from 'zod';
import { withIdempotencyKey } from './mutations.ts';
import { idSchema } from './text.ts';

/**
 * Carriers: the accounts an org's messages leave and arrive through. Connecting one is an
 * admin's act; its secret is sealed at rest and never comes back over the API.
 */
export const CARRIER_KINDS = ['twilio'] as const;
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
  webhooks: { sms: string; status: string; voice: string };
}

const channels = z
  .array(z.enum(CARRIER_CHANNELS))
  .min(1, 'Give at least one channel')
  .max(CARRIER_CHANNELS.length)
  .refine((list) => new Set(list).size === list.length, 'A channel appears twice');

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
]);
export type ConnectCarrierInput = z.infer<typeof connectCarrierInput>;

export const disconnectCarrierInput = z.strictObject({ id: idSchema, ...withIdempotencyKey });
