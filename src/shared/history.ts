import { z } from 'zod';
import { withIdempotencyKey } from './mutations.ts';
import { idSchema } from './text.ts';

/**
 * A record's history: who changed which field from what to what, and when, newest first.
 * It is the record's events, kept past the event log's retention for
 * `HISTORY_RETENTION_DAYS` (docs/OPERATIONS.md).
 */

export const HISTORY_ACTIONS = ['created', 'updated', 'deleted', 'restored'] as const;
/** A conversation's own changes, kept as history like the records'; its messages are its thread. */
export const CONVERSATION_HISTORY_ACTIONS = ['conversation:new', 'conversation:updated', 'conversation:assigned'] as const;
export type HistoryAction = (typeof HISTORY_ACTIONS)[number];

export interface HistoryItem {
  /** The event's place in the org's log. */
  seq: number;
  /** The record's version after it (for `deleted`, the one it would have had). */
  version: number;
  action: HistoryAction;
  /** Who; null for a change no user made (an inbound webhook, the scheduler). */
  userId: string | null;
  /** ISO-8601. */
  timestamp: string;
  /** Each field set or changed: `created` and `restored` from null, `deleted` none. */
  changes: Record<string, { from: unknown; to: unknown }>;
  /** Set when this edit was made on an older version and merged, since nobody had changed its fields meanwhile. */
  mergedFromVersion: number | null;
  /** Set when its author made this edit after a conflict, keeping their own value over the change at this version. */
  overridesVersion: number | null;
}

export const historyInput = z.strictObject({
  id: idSchema,
  /** From `nextCursor`: the page of older changes. */
  cursor: z.number().int().positive().optional(),
  /** Sent by tRPC's infinite queries; pages go one way only (older). */
  direction: z.enum(['forward', 'backward']).optional(),
  limit: z.number().int().min(1).max(100).default(50),
});
export type HistoryInput = z.input<typeof historyInput>;

export interface HistoryPage {
  items: HistoryItem[];
  nextCursor: number | null;
}

/** Fields every record has that say nothing a person changed. */
export const HISTORY_HIDDEN_FIELDS: ReadonlySet<string> = new Set(['id', 'orgId', 'version', 'createdAt', 'updatedAt', 'createdById', 'updatedById']);

/** Deleted records an admin can find and restore, newest deletion first. */
export const deletedInput = z
  .strictObject({
    /** From `nextCursor`. */
    cursor: z.number().int().positive().optional(),
    direction: z.enum(['forward', 'backward']).optional(),
    limit: z.number().int().min(1).max(100).default(50),
  })
  .default({ limit: 50 });

export interface DeletedRecord<R = Record<string, unknown>> {
  id: string;
  /** ISO-8601. */
  deletedAt: string;
  deletedById: string | null;
  /** As it was when it was deleted. */
  record: R;
}

export const restoreInput = z.strictObject({ id: idSchema, ...withIdempotencyKey });
