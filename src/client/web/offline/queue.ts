import type { CachedRecord } from '../realtime/patch.ts';
import type { NewChange, OfflineStore, PendingChange, PendingDelete, PendingEdit } from './store.ts';

/** A change kept to be sent later: the network (or the server) could not be reached. */
export class QueuedOffline extends Error {
  constructor() {
    super('Saved on this device; it will be sent when the connection is back');
  }
}

/** What sending one change came to: a sent delete leaves no record (`null`). */
export type SendResult =
  | { type: 'sent'; record: CachedRecord | null }
  | { type: 'conflict'; current: CachedRecord }
  | { type: 'refused'; reason: string; code?: string }
  | { type: 'unreachable' };

/** A call's failure as a `SendResult`: the server answered (a conflict, a refusal), or it was never reached. */
export function classifyFailure(error: unknown): Exclude<SendResult, { type: 'sent' }> {
  const data = (error as { data?: { code?: string; current?: unknown } | null } | null)?.data;
  if (!data) return { type: 'unreachable' };
  if (data.code === 'CONFLICT' && data.current) return { type: 'conflict', current: data.current as CachedRecord };
  return { type: 'refused', reason: (error as Error).message || data.code || 'Refused', code: data.code };
}

/** A delete whose record someone else deleted first is done: what it asked for is so. */
function outcomeOf(change: PendingChange, error: unknown): SendResult {
  const result = classifyFailure(error);
  return change.kind === 'delete' && result.type === 'refused' && result.code === 'NOT_FOUND' ? { type: 'sent', record: null } : result;
}

/** The change marked with what the server said, to wait for the person. */
function marked(change: PendingChange, result: Extract<SendResult, { type: 'conflict' | 'refused' }>): PendingChange {
  if (result.type === 'refused' || change.kind === 'create') return { ...change, state: 'refused', reason: result.type === 'refused' ? result.reason : 'Conflict' };
  const theirs = { state: 'conflict' as const, theirVersion: result.current.version, theirBy: String(result.current.updatedById ?? '') };
  return change.kind === 'edit' ? { ...change, ...theirs, theirs: result.current[change.field] } : { ...change, ...theirs };
}

/** The same change again over the version that is there now, for a conflict settled for one's own side. */
function overTheirs(change: PendingEdit | PendingDelete): NewChange {
  const fromVersion = change.theirVersion ?? change.fromVersion;
  if (change.kind === 'delete') return { kind: 'delete', module: change.module, recordId: change.recordId, title: change.title, fromVersion };
  return {
    kind: 'edit',
    module: change.module,
    recordId: change.recordId,
    field: change.field,
    value: change.value,
    fromValue: change.theirs,
    fromVersion,
    overridesVersion: fromVersion,
  };
}

export interface QueueOptions {
  store: OfflineStore;
  /** The change's call (its module's update, create or delete, with its idempotencyKey): the record it leaves, `null` for a delete. */
  send(change: PendingChange): Promise<CachedRecord | null>;
  /** Whether a call may be sent now (the socket is open, or HTTP answers). */
  online(): boolean;
  /**
   * Resolves once `online` means something: right after a page loads, the first attempt to
   * connect is under way, and a change made then is neither online nor offline yet.
   */
  settled?(): Promise<void>;
  /** The changes kept, after every change to them. */
  onChanges(changes: PendingChange[]): void;
  /** A kept change the server took, sent by the queue (not by a caller waiting for it). */
  onSent?(change: PendingChange, record: CachedRecord | null): void;
  newKey(): string;
}

/**
 * Field edits, creates and deletes, kept in IndexedDB until the server answers, and sent
 * one at a time in the order they were made (so a record's edits land in order, and before
 * its delete). A change whose answer was lost is sent again with its own idempotencyKey:
 * the server applies it once. One the server refuses after its author left (a conflict, a
 * deleted record, a value no longer allowed) stays, marked, until the person decides:
 * never dropped silently.
 */
export class OfflineQueue {
  #changes: PendingChange[] = [];
  #flushing: Promise<void> | undefined;
  /** Callers waiting for their change's answer, by seq. */
  readonly #waiters = new Map<number, { resolve(record: CachedRecord | null): void; reject(error: unknown): void }>();

  constructor(private readonly options: QueueOptions) {}

  get changes(): readonly PendingChange[] {
    return this.#changes;
  }

  async load(): Promise<void> {
    this.#changes = (await this.options.store.all()).sort((a, b) => a.seq - b.seq);
    this.#notify();
  }

  /**
   * Keeps a field edit, then sends it when it is its turn. Online, the caller gets the
   * server's answer (its record, or its error: a conflict the caller resolves as for any
   * save); otherwise `QueuedOffline`, and the queue sends it when the connection is back.
   * `create` and `delete` answer the same way.
   */
  async submit(edit: Omit<Extract<NewChange, { kind: 'edit' }>, 'kind'>): Promise<CachedRecord> {
    // An update answers with the record.
    return (await this.#send(await this.#keep({ ...edit, kind: 'edit' })))!;
  }

  /** A new record of `module` from what its create schema made of the form. */
  async create(module: PendingChange['module'], values: Record<string, unknown>): Promise<CachedRecord> {
    return (await this.#send(await this.#keep({ kind: 'create', module, values })))!;
  }

  /** Deletes the record as it was seen: a later change by someone else makes it a conflict. */
  async delete(target: Omit<Extract<NewChange, { kind: 'delete' }>, 'kind'>): Promise<void> {
    await this.#send(await this.#keep({ ...target, kind: 'delete' }));
  }

  async #keep(change: NewChange): Promise<PendingChange> {
    const kept = await this.options.store.add({ ...change, idempotencyKey: this.options.newKey() });
    this.#changes = [...this.#changes, kept];
    this.#notify();
    return kept;
  }

  async #send(kept: PendingChange): Promise<CachedRecord | null> {
    // Kept already: whatever the wait comes to, the change is not lost.
    await this.options.settled?.();
    if (!this.options.online()) throw new QueuedOffline();
    const answer = new Promise<CachedRecord | null>((resolve, reject) => this.#waiters.set(kept.seq, { resolve, reject }));
    void this.flush();
    return answer;
  }

  /** Sends what is waiting, oldest first, one at a time, until all is sent or the server cannot be reached. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().then((ended) => {
      this.#flushing = undefined;
      // A change submitted as the last pass ended: another pass sends it.
      if (ended === 'done' && this.#changes.some((item) => item.state === 'waiting')) return this.flush();
      // Whoever still waits is told their change is kept for later.
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
        result = { type: 'sent', record: await this.options.send(next) };
      } catch (error) {
        failure = error;
        result = outcomeOf(next, error);
      }
      if (result.type === 'unreachable') return 'unreachable';
      const waiter = this.#waiters.get(next.seq);
      this.#waiters.delete(next.seq);
      if (result.type === 'sent') {
        await this.#forget(next.seq);
        if (waiter) waiter.resolve(result.record);
        else this.options.onSent?.(next, result.record);
      } else if (waiter) {
        // Its author is still on the page: the page shows the conflict or the refusal as usual.
        await this.#forget(next.seq);
        waiter.reject(failure);
      } else {
        await this.#replace(marked(next, result));
      }
    }
  }

  /** A conflict settled for the other person's side (their value; keeping the record), or a refused change let go. */
  async discard(seq: number): Promise<void> {
    await this.#forget(seq);
  }

  /** A conflict settled for one's own side (my value; delete anyway): sent again over the version that is there now. */
  async saveMine(seq: number): Promise<void> {
    const change = this.#changes.find((item) => item.seq === seq);
    // Only edits and deletes can clash (a create has no earlier version to clash with).
    if (change?.state !== 'conflict') return;
    // The new change is kept before the settled one goes: the count of changes never dips to nothing in between.
    await this.#keep(overTheirs(change));
    await this.#forget(seq);
    // Sent with nobody waiting on it: should it clash again, it is marked again, not lost.
    await this.flush();
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
