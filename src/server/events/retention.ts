import { MODULE_NAMES } from '../../shared/modules.ts';
import { CONVERSATION_HISTORY_ACTIONS } from '../../shared/history.ts';
import type { Db } from '../db/client.ts';

/** `HISTORY_RETENTION_DAYS`' default: a year. */
export const DEFAULT_HISTORY_RETENTION_MS = 365 * 24 * 3_600_000;

export interface RetentionOptions {
  /** Events older than this are deleted; resuming from before them gets a resync. */
  eventRetentionMs: number;
  /**
   * Record changes (the six modules' events) are kept this long instead, as the records'
   * history (records/history.ts); null: for ever. A resume from before `eventRetentionMs`
   * still resyncs: what is kept is history, not a replayable log.
   */
  historyRetentionMs?: number | null | undefined;
  /** Idempotency keys older than this are forgotten. */
  idempotencyTtlMs: number;
  now?: Date;
}

/**
 * Deletes what retention no longer keeps, and records per org how far its log was
 * pruned, so that a resume from before that point is told to resync instead of
 * silently missing the pruned events.
 */
export async function pruneExpired(db: Db, options: RetentionOptions): Promise<{ events: number; idempotencyKeys: number }> {
  const now = options.now ?? new Date();
  const eventCutoff = new Date(now.getTime() - options.eventRetentionMs);
  const history = options.historyRetentionMs === undefined ? DEFAULT_HISTORY_RETENTION_MS : options.historyRetentionMs;
  // The record changes still within the history's time are not deleted with the log.
  const kept = { OR: [{ module: { in: [...MODULE_NAMES] } }, { module: 'conversations', action: { in: [...CONVERSATION_HISTORY_ACTIONS] } }] };
  const keep = { ...kept, ...(history === null ? {} : { createdAt: { gte: new Date(now.getTime() - history) } }) };
  const keyCutoff = new Date(now.getTime() - options.idempotencyTtlMs);
  // The watermark is the last event deleted: a resume from after it misses nothing, since kept record changes are still there.
  const perOrg = await db.event.groupBy({ by: ['orgId'], where: { createdAt: { lt: eventCutoff }, NOT: keep }, _max: { seq: true } });
  let events = 0;
  for (const { orgId, _max } of perOrg) {
    const through = _max.seq;
    if (through === null) continue;
    // Watermark first: a reader that sees the rows gone must also see the watermark.
    await db.$transaction(async (tx) => {
      const state = await tx.eventLogState.findUnique({ where: { orgId } });
      if (!state || state.prunedThroughSeq < through) {
        await tx.eventLogState.upsert({ where: { orgId }, create: { orgId, prunedThroughSeq: through }, update: { prunedThroughSeq: through } });
      }
      events += (await tx.event.deleteMany({ where: { orgId, seq: { lte: through }, NOT: keep } })).count;
    });
  }
  const idempotencyKeys = (await db.idempotencyKey.deleteMany({ where: { createdAt: { lt: keyCutoff } } })).count;
  return { events, idempotencyKeys };
}

/**
 * Runs `pruneExpired` now and then every `everyMs`, and with it the other layers' own
 * clean-ups (`alsoPrune`: uploads never sent); returns the stop function, which waits for a
 * run in progress.
 */
export function schedulePruning(
  db: Db,
  options: RetentionOptions & { everyMs: number; alsoPrune?: readonly ((db: Db) => Promise<unknown>)[]; onError(error: unknown): void },
): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    running = running
      .then(async () => {
        await pruneExpired(db, options);
        for (const prune of options.alsoPrune ?? []) await prune(db);
      })
      .catch(options.onError);
  };
  run();
  const timer = setInterval(run, options.everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
