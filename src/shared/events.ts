import { z } from 'zod';
import { idSchema } from './text.ts';
import type { CommsEvent } from './comms.ts';
import type { TeamEvent } from './teams.ts';
import { MODULE_NAMES, modules, moduleNameSchema, type ModuleName, type RecordOf } from './modules.ts';

/** `restored`: an admin brought a deleted record back (it carries the record, as `created` does). */
export const EVENT_ACTIONS = ['created', 'updated', 'deleted', 'restored'] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

/** On update, the event carries only what changed: `{ field: { from, to } }`. */
export type ChangesOf<M extends ModuleName> = {
  [K in keyof RecordOf<M>]?: { from: RecordOf<M>[K]; to: RecordOf<M>[K] };
};

interface EventBase<M extends ModuleName, A extends EventAction> {
  /** Global order of the log; also the `tracked` id, as a string. */
  seq: number;
  /** e.g. `JOB_UPDATED`, `LISTING_CREATED`. */
  type: `${Uppercase<(typeof modules)[M]['entity']>}_${Uppercase<A>}`;
  module: M;
  action: A;
  recordId: string;
  version: number;
  userId: string;
  orgId: string;
  /** ISO-8601. */
  timestamp: string;
  /** Only on an update merged over a stale `expectedVersion`: the version its author had loaded. */
  mergedFromVersion?: number;
  /** Only on an update made after a conflict, keeping its author's value: the version of the change it replaced. */
  overridesVersion?: number;
  /** The record's team after the change, when it has one. */
  teamId?: string;
}

/** Flattened into one object type: tRPC's output inference would merge the members of a union of intersections. */
type Flatten<T> = { [K in keyof T]: T[K] };
type EventOf<M extends ModuleName, A extends EventAction, D> = Flatten<EventBase<M, A> & { data: D }>;

type EventsOf<M extends ModuleName> =
  | EventOf<M, 'created', RecordOf<M>>
  | EventOf<M, 'updated', ChangesOf<M>>
  | EventOf<M, 'deleted', RecordOf<M>>
  | EventOf<M, 'restored', RecordOf<M>>;

/** Every event of the log, discriminated by `module` and `action` (or `type`). */
export type CrmEvent = { [M in ModuleName]: EventsOf<M> }[ModuleName];

/** An event of a stream that is not a record module (communications, teams): its action is its type. */
export type StreamEventOf<S extends string, T extends string, D> = Flatten<{
  seq: number;
  type: T;
  /** The stream. */
  module: S;
  action: T;
  recordId: string;
  version: number;
  /** Null when no user caused it (an inbound webhook, the scheduler). */
  userId: string | null;
  orgId: string;
  timestamp: string;
  data: D;
}>;

/** The communications streams of the log (the `module` of their events); see comms.ts. */
export const COMMS_STREAMS = ['conversations', 'calls', 'alerts', 'reminders'] as const;
export type CommsStream = (typeof COMMS_STREAMS)[number];

/**
 * A user marked some (`ids`) or all (`ids: null`) of their notifications read: their
 * other tabs follow. In the org's log for order and resume, but read only through the
 * user's own `notifications.*` procedures (`recordId` is the user), never `events.*`.
 */
export interface NotificationsReadEvent {
  seq: number;
  type: 'notifications:read';
  module: 'notifications';
  action: 'notifications:read';
  recordId: string;
  version: number;
  userId: string;
  orgId: string;
  timestamp: string;
  data: { ids: string[] | null; readAt: string; unread: number };
}

/** Every event of the log: the six record modules, the communications family, teams, users' own streams. */
export type LogEvent = CrmEvent | CommsEvent | NotificationsReadEvent | TeamEvent;
/** The `module` of a log event: a record module, a communications stream, `teams` or `notifications` (personal). */
export type LogModule = ModuleName | CommsStream | 'teams' | 'notifications';
export const LOG_MODULES = [...MODULE_NAMES, ...COMMS_STREAMS, 'teams'] as const;
export const logModuleSchema = z.enum(LOG_MODULES);

export function isRecordEvent(event: LogEvent): event is CrmEvent {
  return (MODULE_NAMES as readonly string[]).includes(event.module);
}

export function eventType(module: ModuleName, action: EventAction): CrmEvent['type'] {
  return `${modules[module].entity}_${action.toUpperCase()}` as CrmEvent['type'];
}

/** A resume point: the `seq` of the last event seen, as tRPC's `tracked` id; '0' is the start of the log. */
export const lastEventIdSchema = z.string().regex(/^\d{1,15}$/, 'lastEventId must be an event id such as "42"');

export const moduleFilterSchema = z.array(moduleNameSchema).min(1).max(6);
/** Record modules and communications streams. */
export const logModuleFilterSchema = z.array(logModuleSchema).min(1).max(LOG_MODULES.length);

/** Bursts of updates to one record within this many ms reach the subscriber as one merged event. Default: off. */
const coalesceMsSchema = z.number().int().min(0).max(10_000).optional();

export const onChangeInput = z.strictObject({
  id: idSchema.optional(),
  lastEventId: lastEventIdSchema.nullish(),
  coalesceMs: coalesceMsSchema,
});

export const onAnyInput = z.strictObject({
  modules: moduleFilterSchema.optional(),
  /** Only records of this team: what they became, and what left it. */
  teamId: idSchema.optional(),
  lastEventId: lastEventIdSchema.nullish(),
  coalesceMs: coalesceMsSchema,
});

export const personalInput = z.strictObject({ lastEventId: lastEventIdSchema.nullish() }).optional();

/** Events addressed to one user only (`me.onEvent`). */
export interface JobAssigned {
  type: 'JOB_ASSIGNED';
  seq: number;
  jobId: string;
  title: string;
  assigneeId: string;
  assignedById: string;
  timestamp: string;
}
export type PersonalEvent = JobAssigned | ResyncSignal;

export const sinceInput = z.strictObject({
  lastEventId: lastEventIdSchema,
  /** Default: the six record modules. Communications streams are read by naming them. */
  modules: logModuleFilterSchema.optional(),
  recordId: idSchema.optional(),
  limit: z.number().int().min(1).max(1000).default(200),
});

/**
 * Yielded instead of events when a subscription cannot be resumed exactly: its
 * `lastEventId` is older than the log's retention or unknown to this log, or the
 * subscriber fell too far behind. The subscriber must refetch what it shows (for
 * `modules`, or everything when null); the stream then continues after `lastEventId`.
 */
export interface ResyncSignal {
  type: 'RESYNC';
  reason: 'retention_exceeded' | 'unknown_event_id' | 'slow_consumer';
  modules: LogModule[] | null;
  recordId: string | null;
  /** The head of the log when the signal was sent; also its tracked id. */
  lastEventId: string;
}

/** What a log subscription yields: events, or a resync signal. */
export type StreamItem<E extends LogEvent = CrmEvent> = E | ResyncSignal;

export function isResync(item: StreamItem<LogEvent>): item is ResyncSignal {
  return item.type === 'RESYNC';
}
