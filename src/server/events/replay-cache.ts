import type { LogEvent } from '../../shared/events.ts';
import { markShared } from '../bus/shared-events.ts';
import type { Db } from '../db/client.ts';
import { readEventsAfter } from './log.ts';

export interface ReplayCacheOptions {
  /** Events kept per org (the oldest go first). */
  maxEvents: number;
  /** Orgs kept (the least recently replayed go first). */
  maxOrgs: number;
  /** An org's events are dropped once no replay has used them for this long. */
  idleMs: number;
}

/** What one org's replays share: every event of the org with a seq in (afterSeq, lastSeq], oldest first. */
interface Window {
  afterSeq: number;
  lastSeq: number;
  events: LogEvent[];
  usedAt: number;
  /** The read that is bringing `lastSeq` up to a newer head, which concurrent replays wait for. */
  extending?: Promise<void> | undefined;
}

/**
 * A stretch of each org's log, kept after a resume has read it, so that the next resumes of
 * the org replay from memory. After a restart, thousands of clients resume from about the
 * same position: the first reads the log, the others only read what was committed since (nothing,
 * when the head has not moved), and each event's frame is serialized once for all of them.
 *
 * Correct because the log is append-only and an org's events commit in `seq` order (its
 * log lock): a read that returned the org's events after X up to seq S saw every event of
 * the org in (X, S], and none can appear there later. Retention only removes events below
 * a resume position that `resyncReason` has already refused.
 */
export class ReplayCache {
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly db: Db,
    private readonly options: ReplayCacheOptions = { maxEvents: 2_000, maxOrgs: 20, idleMs: 60_000 },
  ) {}

  /**
   * The org's events after `afterSeq`, oldest first, at most `limit`, of every module (filter
   * them); fewer than `limit` only when they reach `headSeq`, the org's newest committed event
   * as just read (`readLogBounds`).
   */
  async read(orgId: string, afterSeq: number, headSeq: number, limit: number): Promise<LogEvent[]> {
    const now = Date.now();
    this.#forgetIdle(now);
    const window = this.#windows.get(orgId);
    if (!window || afterSeq < window.afterSeq) return this.#readAndKeep(orgId, afterSeq, limit, now);
    window.usedAt = now;
    // Most recently used last: `#bound` drops from the front.
    this.#windows.delete(orgId);
    this.#windows.set(orgId, window);
    while (window.lastSeq < headSeq) {
      const before = window.lastSeq;
      await (window.extending ??= this.#extend(orgId, window).finally(() => (window.extending = undefined)));
      // Nothing newer was found (the head was pruned meanwhile): what the window has is all there is.
      if (window.lastSeq === before) break;
    }
    // The window may have moved on (trimmed) while this replay waited.
    if (afterSeq < window.afterSeq) return this.#readAndKeep(orgId, afterSeq, limit, now);
    const start = firstAfter(window.events, afterSeq);
    return window.events.slice(start, start + limit);
  }

  /** How many orgs and events are kept; for tests and metrics. */
  get size(): { orgs: number; events: number } {
    let events = 0;
    for (const window of this.#windows.values()) events += window.events.length;
    return { orgs: this.#windows.size, events };
  }

  async #readAndKeep(orgId: string, afterSeq: number, limit: number, now: number): Promise<LogEvent[]> {
    const events = await readEventsAfter(this.db, { orgId, afterSeq, limit });
    events.forEach(markShared);
    const current = this.#windows.get(orgId);
    // Kept only when it reaches the head (a full page may stop anywhere) and reaches further back than what is kept.
    if (events.length < limit && (!current || afterSeq < current.afterSeq)) {
      const window: Window = { afterSeq, lastSeq: events.at(-1)?.seq ?? afterSeq, events: [...events], usedAt: now };
      // The one being replaced may have been extended past this read meanwhile: keep its newer
      // events too, when the two stretches meet (no gap between them).
      if (current && current.lastSeq > window.lastSeq && current.afterSeq <= window.lastSeq) {
        window.events.push(...current.events.slice(firstAfter(current.events, window.lastSeq)));
        window.lastSeq = current.lastSeq;
      }
      this.#trim(window);
      this.#windows.delete(orgId);
      this.#windows.set(orgId, window);
      this.#bound();
    }
    return events;
  }

  async #extend(orgId: string, window: Window): Promise<void> {
    const newer = await readEventsAfter(this.db, { orgId, afterSeq: window.lastSeq, limit: this.options.maxEvents });
    newer.forEach(markShared);
    window.events.push(...newer);
    window.lastSeq = newer.at(-1)?.seq ?? window.lastSeq;
    this.#trim(window);
  }

  #trim(window: Window): void {
    const excess = window.events.length - this.options.maxEvents;
    if (excess <= 0) return;
    window.afterSeq = window.events[excess - 1]!.seq;
    window.events.splice(0, excess);
  }

  /** Drops the least recently replayed orgs beyond `maxOrgs` (a Map keeps insertion order: oldest first). */
  #bound(): void {
    for (const orgId of this.#windows.keys()) {
      if (this.#windows.size <= this.options.maxOrgs) break;
      this.#windows.delete(orgId);
    }
  }

  #forgetIdle(now: number): void {
    for (const [orgId, window] of this.#windows) {
      if (now - window.usedAt > this.options.idleMs && !window.extending) this.#windows.delete(orgId);
    }
  }
}

/** The index of the first event with a seq above `seq` (events are in seq order). */
function firstAfter(events: readonly LogEvent[], seq: number): number {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (events[middle]!.seq <= seq) low = middle + 1;
    else high = middle;
  }
  return low;
}
