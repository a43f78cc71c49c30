import { openDB, type IDBPDatabase } from 'idb';
import type { ModuleName } from '../../../shared/modules.ts';

/**
 * A change not yet confirmed by the server, kept in IndexedDB from the moment it is made
 * until the server answers: it survives a reload, a closed tab, a dropped network. Its
 * idempotencyKey goes with it, so sending it again after a lost answer applies it once.
 * Edits, creates and deletes share one store and one `seq`: they are sent in the order made.
 */
interface Kept {
  /** The order changes were made in: they are sent in this order. */
  seq: number;
  module: ModuleName;
  idempotencyKey: string;
  /**
   * - `waiting`: to be sent (or sent, its answer not in yet);
   * - `conflict`: someone else changed the record (an edit: the same field) meanwhile: the person chooses;
   * - `refused`: the server said no (a deleted record, a value no longer allowed): shown, never dropped silently.
   */
  state: 'waiting' | 'conflict' | 'refused';
  /** For `refused`: why. */
  reason?: string;
  createdAt: string;
}

/** One field of one record set to `value`. */
export interface PendingEdit extends Kept {
  kind: 'edit';
  recordId: string;
  field: string;
  value: unknown;
  /** What the field held, and the record's version, when the edit began. */
  fromValue: unknown;
  fromVersion: number;
  /** Made after a conflict settled for one's own value: the version whose value it replaces (the record's history says so). */
  overridesVersion?: number;
  /** For `conflict`: the value now, its version and who set it. */
  theirs?: unknown;
  theirVersion?: number;
  theirBy?: string;
}

/** A new record: it has no id until the server makes it, so nothing else can refer to it meanwhile. */
export interface PendingCreate extends Kept {
  kind: 'create';
  /** What the module's create schema made of the form. */
  values: Record<string, unknown>;
  state: 'waiting' | 'refused';
}

/** A record to delete, as it was seen (`fromVersion`): deleting over someone's later change asks first. */
export interface PendingDelete extends Kept {
  kind: 'delete';
  recordId: string;
  fromVersion: number;
  /** The record's title when it was deleted, to name it while it waits (the record may be gone from the cache). */
  title: string;
  /** For `conflict`: the version now and who made it. */
  theirVersion?: number;
  theirBy?: string;
}

export type PendingChange = PendingEdit | PendingCreate | PendingDelete;

type Fresh<T extends PendingChange> = Omit<T, 'seq' | 'state' | 'createdAt' | 'reason' | 'theirs' | 'theirVersion' | 'theirBy' | 'idempotencyKey'>;
/** A change as a page makes it: the queue gives it its idempotencyKey, the store numbers it and marks it waiting. */
export type NewChange = Fresh<PendingEdit> | Fresh<PendingCreate> | Fresh<PendingDelete>;
type Keyed = NewChange & { idempotencyKey: string };

/** A stored row as a change: the previous version stored only field edits, without `kind`. */
export function asChange(row: unknown): PendingChange {
  const stored = row as PendingChange | Omit<PendingEdit, 'kind'>;
  return 'kind' in stored ? stored : { ...stored, kind: 'edit' };
}

export interface OfflineStore {
  all(): Promise<PendingChange[]>;
  add(change: Keyed): Promise<PendingChange>;
  put(change: PendingChange): Promise<void>;
  remove(seq: number): Promise<void>;
  close(): void;
}

const STORE = 'changes';

const waiting = (change: Keyed) => ({ ...change, state: 'waiting' as const, createdAt: new Date().toISOString() });

/**
 * One database per user, so that another person signing in on this browser never sends
 * someone else's changes. Still version 1: rows are read through `asChange`, so the rows
 * of field edits an older page stored load as they are.
 */
export async function openOfflineStore(userId: string): Promise<OfflineStore> {
  const db: IDBPDatabase = await openDB(`tandem-offline-${userId}`, 1, {
    upgrade(database) {
      database.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
    },
  });
  return {
    async all() {
      return (await db.getAll(STORE)).map(asChange);
    },
    async add(change) {
      const row = waiting(change);
      const seq = (await db.add(STORE, row)) as number;
      return { ...row, seq };
    },
    async put(change) {
      await db.put(STORE, change);
    },
    async remove(seq) {
      await db.delete(STORE, seq);
    },
    close: () => db.close(),
  };
}

/** Where IndexedDB cannot be opened (some private windows): kept for the tab's life only. */
export function memoryStore(): OfflineStore {
  let rows: PendingChange[] = [];
  let next = 1;
  return {
    all: async () => [...rows],
    async add(change) {
      const row: PendingChange = { ...waiting(change), seq: next++ };
      rows.push(row);
      return row;
    },
    async put(change) {
      rows = rows.map((row) => (row.seq === change.seq ? change : row));
    },
    async remove(seq) {
      rows = rows.filter((row) => row.seq !== seq);
    },
    close: () => {},
  };
}
