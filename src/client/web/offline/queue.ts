import type { CachedRecord } from '../realtime/patch.ts';
import type { NewChange, OfflineStore, PendingChange } from './store.ts';

/** A field edit kept to be sent later: the network (or the server) could not be reached. */
export class QueuedOffline extends Error {
  constructor() {
    super('Saved on this device; it will be sent when the connection is back');
  }
}

/** What sending one change came to. */
export type SendResult = { type: 'sent'; record: CachedRecord } | { type: 'conflict'; current: CachedRecord } | { type: 'refused'; reason: string } | { type: 'unreachable' };

/** A call's failure as a `SendResult`: the server answered (a conflict, a refusal), or it was never reached. */
export function classifyFailure(error: unknown): Exclude<SendResult, { type: 'sent' }> {
  const data = (error as { data?: { code?: string; current?: unknown } | null } | null)?.data;
  if (!data) return { type: 'unreachable' };
  if (data.code === 'CONFLICT' && data.current) return { type: 'conflict', current: data.current as CachedRecord };
  return { type: 'refused', reason: (error as Error).message || data.code || 'Refused' };
}

export interface QueueOptions {
  store: OfflineStore;
  /** The update call: `{ id, expectedVersion, patch, idempotencyKey }` of the change's module. */
  send(change: PendingChange, expectedVersion: number): Promise<CachedRecord>;
  /** Whether a call may be sent now (the socket is open, or HTTP answers). */
  online(): boolean;
  /** The changes kept, after every change to them. */
  onChanges(changes: PendingChange[]): void;
  /** A kept change the server took, sent by the queue (not by a caller waiting for it). */
  onSent?(change: PendingChange, record: CachedRecord): void;
  newKey(): string;
}

/**
 * Field edits, kept in IndexedDB until the server answers, and sent one at a time in the
 * order they were made (so a record's edits land in order). A change whose answer was
 * lost is sent again with its own idempotencyKey: the server applies it once. One the
 * server refuses after its author left (a conflict, a deleted record) stays, marked, until
 * the person decides: never dropped silently.
 */
export class OfflineQueue {
  #changes: PendingChange[] = [];
  #flushing: Promise<void> | undefined;
  /** Callers of `submit` waiting for their edit's answer, by seq. */
  readonly #waiters = new Map<number, { resolve(record: CachedRecord): void; reject(error: unknown): void }>();

  constructor(private readonly options: QueueOptions) {}

  get changes(): readonly PendingChange[] {
    return this.#changes;
  }

  async load(): Promise<void> {
    this.#changes = (await this.options.store.all()).sort((a, b) => a.seq - b.seq);
    this.#notify();
  }

  /**
   * Keeps the edit, then sends it when it is its turn. Online, the caller gets the server's
   * answer (its record, or its error: a conflict the caller resolves as for any save);
   * otherwise `QueuedOffline`, and the queue sends it when the connection is back.
   */
  async submit(change: Omit<NewChange, 'idempotencyKey'>): Promise<CachedRecord> {
    return this.#send(await this.#keep(change));
  }

  async #keep(change: Omit<NewChange, 'idempotencyKey'>): Promise<PendingChange> {
    const kept = await this.options.store.add({ ...change, idempotencyKey: this.options.newKey() });
    this.#changes = [...this.#changes, kept];
    this.#notify();
    return kept;
  }

  #send(kept: PendingChange): Promise<CachedRecord> {
    if (!this.options.online()) return Promise.reject(new QueuedOffline());
    const answer = new Promise<CachedRecord>((resolve, reject) => this.#waiters.set(kept.seq, { resolve, reject }));
    void this.flush();
    return answer;
  }

  /** Sends what is waiting, oldest first, one at a time, until all is sent or the server cannot be reached. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().then((ended) => {
      this.#flushing = undefined;
      // An edit submitted as the last pass ended: another pass sends it.
      if (ended === 'done' && this.#changes.some((item) => item.state === 'waiting')) return this.flush();
      // Whoever still waits is told their edit is kept for later.
      for (const [seq, waiter] of this.#waiters) {
        this.#waiters.delete(seq);
        waiter.reject(new QueuedOffline());
      }
    });
    return this.#flushing;
  }

  async #flush(): Promise<'done' | 'unreachable'> {
    for (;;) {
      if (!this.options.online()) return 'unreachable';
      const next = this.#changes.find((item) => item.state === 'waiting');
      if (!next) return 'done';
      let result: SendResult;
      let failure: unknown;
      try {
        result = { type: 'sent', record: await this.options.send(next, next.fromVersion) };
      } catch (error) {
        failure = error;
        result = classifyFailure(error);
      }
      if (result.type === 'unreachable') return 'unreachable';
      const waiter = this.#waiters.get(next.seq);
      this.#waiters.delete(next.seq);
      if (result.type === 'sent') {
        await this.#forget(next.seq);
        if (waiter) waiter.resolve(result.record);
        else this.options.onSent?.(next, result.record);
      } else if (waiter) {
        // Its author is still on the page: the save shows the conflict or the refusal as usual.
        await this.#forget(next.seq);
        waiter.reject(failure);
      } else if (result.type === 'conflict') {
        await this.#replace({
          ...next,
          state: 'conflict',
          theirs: result.current[next.field],
          theirVersion: result.current.version,
          theirBy: String(result.current.updatedById ?? ''),
        });
      } else {
        await this.#replace({ ...next, state: 'refused', reason: result.reason });
      }
    }
  }

  /** A conflict settled for the other person's value, or a refused change let go. */
  async discard(seq: number): Promise<void> {
    await this.#forget(seq);
  }

  /** A conflict settled for one's own value: sent again over the version that is there now. */
  async saveMine(seq: number): Promise<void> {
    const change = this.#changes.find((item) => item.seq === seq);
    if (change?.state !== 'conflict') return;
    const { module, recordId, field, value } = change;
    // The new edit is kept before the settled one goes: the count of changes never dips to nothing in between.
    const kept = await this.#keep({ module, recordId, field, value, fromValue: change.theirs, fromVersion: change.theirVersion ?? change.fromVersion });
    await this.#forget(seq);
    await this.#send(kept).catch(() => {});
  }

  async #forget(seq: number) {
    await this.options.store.remove(seq);
    this.#changes = this.#changes.filter((item) => item.seq !== seq);
    this.#notify();
  }

  async #replace(change: PendingChange) {
    await this.options.store.put(change);
    this.#changes = this.#changes.map((item) => (item.seq === change.seq ? change : item));
    this.#notify();
  }

  #notify() {
    this.options.onChanges(this.#changes);
  }
}
