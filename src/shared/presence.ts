import { z } from 'zod';
import { plain } from './text.ts';
import { lastEventIdSchema } from './events.ts';
import { idSchema, MODULE_NAMES } from './modules.ts';
import { withIdempotencyKey } from './mutations.ts';

export const PRESENCE_STATUSES = ['online', 'idle', 'offline'] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];

/** One user of the org: one entry however many tabs or connections they have. */
export interface PresenceEntry {
  userId: string;
  name: string;
  status: PresenceStatus;
  /** ISO-8601: when this status began. */
  since: string;
}

export interface Viewer {
  userId: string;
  name: string;
}

/** What subscribers of one record see: who views it (on start and on every change), and who types where. */
export type RecordActivity =
  | { type: 'viewers'; module: string; recordId: string; viewers: Viewer[] }
  | { type: 'typing'; module: string; recordId: string; userId: string; name: string; field: string | null; typing: boolean };

const fieldName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/);

/** A record of one of the six modules, or a conversation (who views it, who types a reply). */
const presenceModuleSchema = z.enum([...MODULE_NAMES, 'conversations']);

export const recordRefInput = z.strictObject({ module: presenceModuleSchema, recordId: idSchema, ...withIdempotencyKey });
export const heartbeatInput = z.strictObject({ active: z.boolean().default(true), ...withIdempotencyKey });
export const typingInput = z.strictObject({ module: presenceModuleSchema, recordId: idSchema, field: fieldName.optional(), ...withIdempotencyKey });
export const onRecordInput = z.strictObject({ module: presenceModuleSchema, recordId: idSchema, lastEventId: lastEventIdSchema.nullish() });
export const presenceOnChangeInput = z.strictObject({ lastEventId: plain().max(32).nullish() }).optional();
