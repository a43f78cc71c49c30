import type { LogEvent } from '../../shared/events.ts';

/**
 * Hands events to local subscribers in each org's `seq` order, exactly once, whatever
 * order they arrive in from other nodes. Each event names the org's event before it
 * (`prevSeq`, taken under the org's log lock); when that one has not been seen here,
 * the missing stretch is read from the log first.
 */
export class OrgSequencer {
  readonly #cursors = new Map<string, number>();
  readonly #pending = new Map<string, Promise<void>>();
  readonly #deliver: (event: LogEvent) => void;
  readonly #readGap: (orgId: string, afterSeq: number, throughSeq: number) => Promise<LogEvent[]>;
  readonly #onError: (error: unknown) => void;

  constructor(options: {
    deliver: (event: LogEvent) => void;
    readGap: (orgId: string, afterSeq: number, throughSeq: number) => Promise<LogEvent[]>;
    onError: (error: unknown) => void;
  }) {
    this.#deliver = options.deliver;
    this.#readGap = options.readGap;
    this.#onError = options.onError;
  }

  /** The highest seq handed on, over all orgs (where tailing the log resumes). */
  get highestSeq(): number {
    let highest = 0;
    for (const seq of this.#cursors.values()) highest = Math.max(highest, seq);
    return highest;
  }

  accept(event: LogEvent, prevSeq: number): void {
    const orgId = event.orgId;
    const pending = this.#pending.get(orgId);
    // A gap of this org is being filled: queue behind it to keep the order. (Not through
    // `accept` again: once queued, this event is itself what is pending, and would queue
    // behind itself for ever.)
    const work = pending ? pending.then(() => this.#sequence(event, prevSeq)) : this.#sequence(event, prevSeq);
    if (work) this.#chain(orgId, work);
  }

  /** Hands the event on now, or returns the filling of the gap before it (which hands both on). */
  #sequence(event: LogEvent, prevSeq: number): Promise<void> | undefined {
    const orgId = event.orgId;
    const cursor = this.#cursors.get(orgId);
    if (cursor !== undefined && event.seq <= cursor) return undefined;
    // The first event of an org seen here starts its cursor: subscribers replay their own history.
    if (cursor === undefined || prevSeq <= cursor) {
      this.#handOn(event);
      return undefined;
    }
    return (async () => {
      const missing = await this.#readGap(orgId, cursor, event.seq);
      for (const earlier of missing) if (earlier.seq > (this.#cursors.get(orgId) ?? 0)) this.#handOn(earlier);
      if (event.seq > (this.#cursors.get(orgId) ?? 0)) this.#handOn(event);
    })();
  }

  #handOn(event: LogEvent) {
    this.#cursors.set(event.orgId, event.seq);
    this.#deliver(event);
  }

  #chain(orgId: string, work: Promise<void>) {
    const settled: Promise<void> = work.catch(this.#onError).finally(() => {
      if (this.#pending.get(orgId) === settled) this.#pending.delete(orgId);
    });
    this.#pending.set(orgId, settled);
  }
}
