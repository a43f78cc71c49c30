import { z } from 'zod';
import { line, plain, text } from './text.ts';
import { lastEventIdSchema, type CommsStream, type StreamEventOf } from './events.ts';
import { idSchema } from './modules.ts';
import { withIdempotencyKey } from './mutations.ts';
import { attachmentsSchema } from './uploads.ts';

/**
 * Conversations, messages, calls, alerts and reminders: the second family of the
 * event log. They are not CRM records (no generic create/update), but their events
 * go through the same log, seq order, resume and bus as the six modules.
 */

export const CHANNELS = ['sms', 'chat', 'whatsapp'] as const;
export type Channel = (typeof CHANNELS)[number];
export const CONVERSATION_STATUSES = ['open', 'closed'] as const;
export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];
export const MESSAGE_DIRECTIONS = ['inbound', 'outbound'] as const;
export type MessageDirection = (typeof MESSAGE_DIRECTIONS)[number];
/**
 * In this order; a status never goes back (a late "delivered" after "read" is ignored). `failed` ends it.
 * `queued`: waiting in the outbox for the org's carrier; `sent`: the carrier took it (or, with no
 * carrier connected, it was recorded for the org's own relay).
 */
export const MESSAGE_STATUSES = ['queued', 'sent', 'delivered', 'read', 'failed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export const CALL_STATUSES = ['ringing', 'answered', 'missed'] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];
export const ALERT_KINDS = ['escrow_closing', 'listing_price_drop', 'lead_uncontacted'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export interface Conversation {
  id: string;
  orgId: string;
  version: number;
  channel: Channel;
  contactName: string | null;
  contactPhone: string | null;
  orgNumber: string | null;
  clientId: string | null;
  leadId: string | null;
  status: ConversationStatus;
  assigneeId: string | null;
  unreadCount: number;
  lastMessageAt: string | null;
  lastMessagePreview: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Message {
  id: string;
  conversationId: string;
  direction: MessageDirection;
  body: string;
  status: MessageStatus;
  /** The agent who sent it (outbound). */
  authorId: string | null;
  createdAt: string;
  deliveredAt: string | null;
  readAt: string | null;
  failedAt: string | null;
  /** Why it failed, as the carrier (or the outbox) said. */
  failureReason: string | null;
  /** Photos and documents that came with it or were attached to it; `path` serves the file (GET, with the bearer token). */
  media: MessageMedia[];
}

export interface MessageMedia {
  contentType: string;
  path: string;
  /** Files an agent attached carry their name and size; a carrier's media carries neither. */
  name?: string;
  size?: number;
}

export interface Call {
  id: string;
  orgId: string;
  version: number;
  fromNumber: string;
  toNumber: string;
  status: CallStatus;
  clientId: string | null;
  answeredById: string | null;
  ringUntil: string;
  answeredAt: string | null;
  createdAt: string;
}

export interface Alert {
  id: string;
  kind: AlertKind;
  title: string;
  body: string | null;
  module: string | null;
  recordId: string | null;
  createdAt: string;
}

export interface AppointmentReminder {
  appointmentId: string;
  title: string;
  startsAt: string;
  reminderMinutes: number;
}

/**
 * Unassigned new conversations notify everyone in the org; past this many in
 * `NEW_CONVERSATION_WINDOW_MS` (a flood, or someone texting from many numbers) they are
 * only shown in the inbox, so no sender can raise people × numbers notifications.
 */
export const NEW_CONVERSATIONS_ANNOUNCED = 20;
export const NEW_CONVERSATION_WINDOW_MS = 10 * 60_000;

/** Events of a conversation (its messages too) have the conversation's id as `recordId`. */
type CommsEventOf<S extends CommsStream, T extends string, D> = StreamEventOf<S, T, D>;

/** Who got a notification from the event (the notifications stream follows this). */
interface Notifies {
  notifiedUserIds: string[];
}

export type ConversationEvent =
  /** `quieted`: one of more new conversations in a short time than are announced to everyone (see NEW_CONVERSATIONS_ANNOUNCED); nobody was notified. */
  | CommsEventOf<'conversations', 'conversation:new', { conversation: Conversation; quieted?: true } & Partial<Notifies>>
  | CommsEventOf<'conversations', 'conversation:updated', { conversation: Conversation }>
  | CommsEventOf<'conversations', 'conversation:assigned', { conversation: Conversation; previousAssigneeId: string | null } & Notifies>
  | CommsEventOf<'conversations', 'message:new', { message: Message; conversation: Conversation }>
  | CommsEventOf<
      'conversations',
      'message:queued' | 'message:sent' | 'message:delivered' | 'message:read' | 'message:failed',
      { messageIds: string[]; status: MessageStatus; at: string; conversation: Conversation; reason?: string }
    >;
export type CallEvent = CommsEventOf<'calls', 'call.incoming' | 'call.answered', { call: Call }> | CommsEventOf<'calls', 'call.missed', { call: Call } & Notifies>;
export type AlertEvent = CommsEventOf<'alerts', 'alert:new', { alert: Alert } & Notifies>;
export type ReminderEvent = CommsEventOf<'reminders', 'appointment.reminder', AppointmentReminder & Notifies>;

export type CommsEvent = ConversationEvent | CallEvent | AlertEvent | ReminderEvent;
export type CommsEventType = CommsEvent['type'];
/** The `data` of the events of type `T` (also where one member covers several types). */
export type CommsDataOf<T extends CommsEventType> = CommsEvent extends infer E ? (E extends { type: infer U; data: infer D } ? (T extends U ? D : never) : never) : never;

// Inputs

const cursorSchema = plain().min(1).max(200);
const pageLimit = z.number().int().min(1).max(200).default(50);

export const conversationsListInput = z
  .strictObject({
    status: z.enum(CONVERSATION_STATUSES).optional(),
    channel: z.enum(CHANNELS).optional(),
    /** A user id, `me`, or `null` for unassigned ones. */
    assigneeId: z.union([idSchema, z.literal('me'), z.null()]).optional(),
    limit: pageLimit,
    cursor: cursorSchema.optional(),
    direction: z.enum(['forward', 'backward']).optional(),
  })
  .default({ limit: 50 });

export const conversationIdInput = z.strictObject({ id: idSchema });
/** An agent writes first: to a client or lead (their phone) or to a number. */
export const startConversationInput = z
  .strictObject({
    channel: z.enum(['sms', 'whatsapp']).default('sms'),
    clientId: idSchema.optional(),
    leadId: idSchema.optional(),
    phone: line(32)
      .regex(/^[+0-9 ().-]{3,32}$/, 'Invalid phone number')
      .optional(),
    body: text(1600).min(1, 'The message is empty'),
    ...withIdempotencyKey,
  })
  .refine((input) => [input.clientId, input.leadId, input.phone].filter((value) => value !== undefined).length === 1, {
    message: 'Give exactly one of clientId, leadId or phone',
  });
export const assignConversationInput = z.strictObject({ id: idSchema, assigneeId: idSchema.nullable(), ...withIdempotencyKey });
export const closeConversationInput = z.strictObject({ id: idSchema, ...withIdempotencyKey });

export const messagesListInput = z.strictObject({
  conversationId: idSchema,
  /** From `nextCursor`: the page of older messages. */
  cursor: cursorSchema.optional(),
  direction: z.enum(['forward', 'backward']).optional(),
  limit: pageLimit,
});
export const sendMessageInput = z
  .strictObject({
    conversationId: idSchema,
    body: text(1600),
    /** Files uploaded first (`POST /uploads`; shared/uploads.ts), in the order they are shown. */
    attachments: attachmentsSchema.optional(),
    ...withIdempotencyKey,
  })
  .refine((input) => input.body !== '' || (input.attachments?.length ?? 0) > 0, { message: 'The message is empty', path: ['body'] });
export const markMessagesReadInput = z.strictObject({ conversationId: idSchema, ...withIdempotencyKey });
/** A failed outbound message, queued again for the org's carrier. */
export const retryMessageInput = z.strictObject({ id: idSchema, ...withIdempotencyKey });

export const streamInput = z.strictObject({ lastEventId: lastEventIdSchema.nullish() }).optional();
export const onConversationInput = z.strictObject({ conversationId: idSchema, lastEventId: lastEventIdSchema.nullish() });

export const callsListInput = z.strictObject({ status: z.enum(CALL_STATUSES).optional(), limit: pageLimit }).default({ limit: 50 });
export const answerCallInput = z.strictObject({ id: idSchema, ...withIdempotencyKey });

export const alertsListInput = z.strictObject({ limit: z.number().int().min(1).max(100).default(30) }).default({ limit: 30 });
