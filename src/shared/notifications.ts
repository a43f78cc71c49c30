import { z } from 'zod';
import { idSchema } from './text.ts';
import { lastEventIdSchema } from './events.ts';
import { withIdempotencyKey } from './mutations.ts';

export const NOTIFICATION_KINDS = ['job_assigned', 'team_assigned', 'conversation_assigned', 'conversation_new', 'call_missed', 'appointment_reminder', 'alert'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export interface Notification {
  id: string;
  kind: NotificationKind;
  title: string;
  body: string | null;
  module: string | null;
  recordId: string | null;
  /** The log event that raised it; also its tracked id in `notifications.onNew`. */
  eventSeq: number;
  readAt: string | null;
  createdAt: string;
}

/** In `notifications.onNew`: some (or, with `ids: null`, all) of the caller's notifications were marked read, maybe in another tab. */
export interface NotificationsRead {
  type: 'NOTIFICATIONS_READ';
  ids: string[] | null;
  readAt: string;
  /** The caller's unread count after it. */
  unread: number;
  /** The log event that says so; also its tracked id. */
  eventSeq: number;
}

export const notificationsListInput = z
  .strictObject({
    limit: z.number().int().min(1).max(100).default(30),
    /** The `eventSeq` of the last item of the previous page. */
    before: z.number().int().positive().optional(),
    unreadOnly: z.boolean().default(false),
  })
  .optional();

export const markReadInput = z.union([
  z.strictObject({ ids: z.array(idSchema).min(1).max(200), ...withIdempotencyKey }),
  z.strictObject({ all: z.literal(true), ...withIdempotencyKey }),
]);

export const notificationsSinceInput = z.strictObject({ lastEventId: lastEventIdSchema, limit: z.number().int().min(1).max(500).default(200) });

export const notificationsOnNewInput = z.strictObject({ lastEventId: lastEventIdSchema.nullish() }).optional();
