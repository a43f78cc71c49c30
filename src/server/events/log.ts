import { eventType, type EventAction, type LogEvent, type LogModule } from '../../shared/events.ts';
import { MODULE_NAMES, type ModuleName } from '../../shared/modules.ts';
import type { Db, Tx } from '../db/client.ts';
import type { NotificationDraft } from './effects.ts';

export interface EventDraft {
  orgId: string;
  /** A record module, or a communications stream. */
  module: LogModule;
  /** created | updated | deleted for records; the event type (`message:new`, …) for communications. */
  action: string;
  recordId: string;
  version: number;
  /** Null when no user caused it. */
  userId: string | null;
  data: Record<string, unknown>;
  mergedFromVersion?: number | null;
  /** Written with the event; records derive theirs from the change instead (see notificationsFor). */
  notifications?: NotificationDraft[];
}

interface EventRow extends Omit<EventDraft, 'module' | 'data' | 'notifications'> {
  seq: number;
  module: string;
  data: unknown;
  createdAt: Date;
  teamId?: string | null;
  overridesVersion?: number | null;
}

const isRecordModule = (module: string): module is ModuleName => (MODULE_NAMES as readonly string[]).includes(module);

export function toEvent(row: EventRow): LogEvent {
  return {
    seq: row.seq,
    // A record event's type is derived (`JOB_UPDATED`); a communications event's action is its type.
    type: isRecordModule(row.module) ? eventType(row.module, row.action as EventAction) : row.action,
    module: row.module,
    action: row.action,
    recordId: row.recordId,
    version: row.version,
    data: row.data,
    userId: row.userId,
    orgId: row.orgId,
    timestamp: row.createdAt.toISOString(),
    ...(row.mergedFromVersion != null ? { mergedFromVersion: row.mergedFromVersion } : {}),
    ...(row.teamId ? { teamId: row.teamId } : {}),
    ...(row.overridesVersion != null ? { overridesVersion: row.overridesVersion } : {}),
  } as LogEvent;
}

/**
 * The org's log lock, with the org id as `$1`. It serializes the org's writers until the
 * transaction ends, so that within an org `seq` order is commit order: a reader that
 * has seen seq N can never later find a smaller seq of the same org committing behind
 * it. Must run before the event row takes its seq. Not needed where transactions cannot
 * overlap at all (PGlite: see `runsOneTransactionAtATime`).
 */
export const LOCK_ORG_LOG = 'SELECT pg_advisory_xact_lock(hashtext($1))';

/** `LOCK_ORG_LOG` in a Prisma transaction. */
export function lockOrgLog(tx: Db | Tx, orgId: string) {
  return tx.$executeRawUnsafe(LOCK_ORG_LOG, orgId);
}

/** A committed event with the seq of the org's event before it (0: none), which lets a node notice a gap. */
export interface SequencedEvent {
  event: LogEvent;
  prevSeq: number;
}

/** An event row's columns as written, in this order; `prevSeq` last (see `previousSeqOf`). */
export const EVENT_INSERT = `INSERT INTO "Event" ("orgId", module, action, "recordId", version, "userId", data, "mergedFromVersion", "prevSeq", "teamId", "overridesVersion")`;
/** What `toEvent` needs of a written event row, with its prevSeq. */
export const EVENT_RETURNING = `RETURNING seq, "orgId", module, action, "recordId", version, "userId", data, "mergedFromVersion", "prevSeq", "createdAt", "teamId", "overridesVersion"`;

/**
 * The org's newest seq (else how far retention pruned, else 0), as SQL on the org id
 * parameter `orgParam`: final only under the org's log lock.
 */
export function previousSeqOf(orgParam: string): string {
  return `COALESCE((SELECT max(seq) FROM "Event" WHERE "orgId" = ${orgParam}), (SELECT "prunedThroughSeq" FROM "EventLogState" WHERE "orgId" = ${orgParam}), 0)`;
}

export type WrittenEventRow = EventRow & { prevSeq: number };

const APPEND_EVENT = `${EVENT_INSERT}
  VALUES ($1::text, $2::text, $3::text, $4::text, $5::integer, $6::text, $7::jsonb, $8::integer, ${previousSeqOf('$1::text')}, NULL, NULL)
  ${EVENT_RETURNING}`;

/**
 * Writes the event row with the org's previous seq, in one statement (a commit's
 * statements are most of its cost); call inside the transaction that makes the
 * change, after `lockOrgLog`, so that the previous seq read here is final.
 */
export async function appendEvent(tx: Tx, draft: EventDraft): Promise<SequencedEvent> {
  const [row] = await tx.$queryRawUnsafe<WrittenEventRow[]>(
    APPEND_EVENT,
    draft.orgId,
    draft.module,
    draft.action,
    draft.recordId,
    draft.version,
    draft.userId,
    JSON.stringify(draft.data),
    draft.mergedFromVersion ?? null,
  );
  if (!row) throw new Error('The event row was not written');
  return sequenced(row);
}

/** A written event row as the bus carries it. */
export function sequenced(row: WrittenEventRow): SequencedEvent {
  return { event: toEvent(row), prevSeq: row.prevSeq };
}

/** Every org's events after `afterSeq` in seq order, with their prevSeq: what a node tails when its pub/sub is down. */
export async function readAllEventsAfter(db: Db, afterSeq: number, limit: number): Promise<SequencedEvent[]> {
  const rows = await db.event.findMany({ where: { seq: { gt: afterSeq } }, orderBy: { seq: 'asc' }, take: limit });
  return rows.map((row) => ({ event: toEvent(row), prevSeq: row.prevSeq ?? 0 }));
}

export interface ReadEventsOptions {
  orgId: string;
  /** Exclusive. */
  afterSeq: number;
  modules?: readonly LogModule[];
  recordId?: string;
  limit: number;
}

/** The org's events after `afterSeq`, oldest first. */
export async function readEventsAfter(db: Db | Tx, options: ReadEventsOptions): Promise<LogEvent[]> {
  const rows = await db.event.findMany({
    where: {
      orgId: options.orgId,
      seq: { gt: options.afterSeq },
      ...(options.modules ? { module: { in: [...options.modules] } } : {}),
      ...(options.recordId ? { recordId: options.recordId } : {}),
    },
    orderBy: { seq: 'asc' },
    take: options.limit,
  });
  return rows.map(toEvent);
}

/** `events.since`'s answer is cut at about this many bytes of event data, whatever its `limit` (at least one event). */
export const MAX_PAGE_BYTES = 1024 * 1024;
const PAGE_CHUNK = 100;

/**
 * Up to `limit` of the org's events after `afterSeq`, oldest first, but no more than
 * about `maxBytes` of them: read a chunk at a time, so that a page of 1,000 large events
 * (10 KB each) never sits in memory whole. `more` says whether the log has more after them.
 */
export async function readEventsPage(db: Db | Tx, options: ReadEventsOptions & { maxBytes?: number }): Promise<{ events: LogEvent[]; more: boolean }> {
  const maxBytes = options.maxBytes ?? MAX_PAGE_BYTES;
  const events: LogEvent[] = [];
  let bytes = 0;
  let afterSeq = options.afterSeq;
  while (events.length < options.limit) {
    const take = Math.min(PAGE_CHUNK, options.limit - events.length);
    const chunk = await readEventsAfter(db, { ...options, afterSeq, limit: take });
    for (const event of chunk) {
      // The serialized size is what the answer costs to hold and send.
      const size = JSON.stringify(event.data).length + 200;
      if (events.length > 0 && bytes + size > maxBytes) return { events, more: true };
      bytes += size;
      events.push(event);
    }
    if (chunk.length < take) return { events, more: false };
    afterSeq = chunk.at(-1)!.seq;
  }
  return { events, more: true };
}

export interface LogBounds {
  /** Resuming after a seq below this misses pruned events. */
  prunedThroughSeq: number;
  /** The org's newest committed event (0 when none): a position after everything so far. */
  headSeq: number;
}

/**
 * Where the org's log starts and ends, in one statement (one snapshot, also against a
 * prune running meanwhile). No lock is needed for a position taken from here never to
 * skip an event that commits later: an org's commits are serialized by its log lock
 * and take their seq inside it, so any commit of the org still in flight has a larger
 * seq than every one of its committed events. Lock-free, a reconnect storm's thousands
 * of resumes neither queue behind one another nor behind the org's writers.
 */
export async function readLogBounds(db: Db, orgId: string): Promise<LogBounds> {
  const [row] = await db.$queryRaw<{ pruned: number | null; head: number | null }[]>`
    SELECT (SELECT "prunedThroughSeq" FROM "EventLogState" WHERE "orgId" = ${orgId}) AS pruned,
           (SELECT max(seq) FROM "Event" WHERE "orgId" = ${orgId}) AS head`;
  const prunedThroughSeq = Number(row?.pruned ?? 0);
  return { prunedThroughSeq, headSeq: Math.max(Number(row?.head ?? 0), prunedThroughSeq) };
}

/** Why a resume from `afterSeq` cannot be exact, or null when it can. */
export function resyncReason(bounds: LogBounds, afterSeq: number): 'retention_exceeded' | 'unknown_event_id' | null {
  if (afterSeq < bounds.prunedThroughSeq) return 'retention_exceeded';
  if (afterSeq > bounds.headSeq) return 'unknown_event_id';
  return null;
}
