import { openDB, type IDBPDatabase } from 'idb';
import type { ModuleName } from '../../../shared/modules.ts';

/**
 * A field edit not yet confirmed by the server, kept in IndexedDB from the moment it is
 * made until the server answers: it survives a reload, a closed tab, a dropped network.
 * Its idempotencyKey goes with it, so sending it again after a lost answer applies it once.
 */
export interface PendingChange {
  /** The order edits were made in: they are sent in this order. */
  seq: number;
  module: ModuleName;
  recordId: string;
  field: string;
  value: unknown;
  /** What the field held, and the record's version, when the edit began. */
  fromValue: unknown;
  fromVersion: number;
  idempotencyKey: string;
  /**
   * - `waiting`: to be sent (or sent, its answer not in yet);
   * - `conflict`: someone else changed the same field meanwhile: the person chooses;
   * - `refused`: the server said no (a deleted record, a value no longer allowed): shown, never dropped silently.
   */
  state: 'waiting' | 'conflict' | 'refused';
  /** For `conflict`: the value now, its version and who set it; for `refused`: why. */
  theirs?: unknown;
  theirVersion?: number;
  theirBy?: string;
  reason?: string;
  createdAt: string;
}

export type NewChange = Omit<PendingChange, 'seq' | 'state' | 'createdAt'>;

export interface OfflineStore {
  all(): Promise<PendingChange[]>;
  add(change: NewChange): Promise<PendingChange>;
  put(change: PendingChange): Promise<void>;
  remove(seq: number): Promise<void>;
  close(): void;
}

const STORE = 'changes';

/** One database per user, so that another person signing in on this browser never sends someone else's edits. */
export async function openOfflineStore(userId: string): Promise<OfflineStore> {
  const db: IDBPDatabase = await openDB(`tandem-offline-${userId}`, 1, {
    upgrade(database) {
      database.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
    },
  });
  return {
    async all() {
      return (await db.getAll(STORE)) as PendingChange[];
    },
    async add(change) {
      const row = { ...change, state: 'waiting' as const, createdAt: new Date().toISOString() };
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
      const row: PendingChange = { ...change, seq: next++, state: 'waiting', createdAt: new Date().toISOString() };
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
