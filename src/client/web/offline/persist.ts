import { dehydrate, hydrate, type DehydratedState, type QueryClient } from '@tanstack/react-query';
import { deleteDB, openDB } from 'idb';
import { parseRecordKey } from '../realtime/patch.ts';

/** Records and lists kept for reading offline: the most recently fetched ones, at most this many. */
export const MAX_KEPT_QUERIES = 200;
/** Older than this, a kept copy is not shown. */
const KEEP_FOR_MS = 7 * 24 * 3_600_000;

/**
 * What the signed-in user last saw of records (details and lists), kept in IndexedDB so
 * that a reload while the server cannot be reached still shows it (with a notice that it is
 * what was last seen). Per user, like the edits waiting to sync; nothing else of the cache.
 */
export async function keepRecordsForOffline(queryClient: QueryClient, userId: string): Promise<() => void> {
  const db = await openDB(`tandem-cache-${userId}`, 1, {
    upgrade(database) {
      database.createObjectStore('state');
    },
  });
  const kept = (await db.get('state', 'records')) as { savedAt: number; state: DehydratedState } | undefined;
  // What the server sends now always wins over the kept copy: only queries not in the cache are filled in.
  if (kept && Date.now() - kept.savedAt < KEEP_FOR_MS) hydrate(queryClient, kept.state);

  // One write at a time: changes that come while one is under way are written once it is done,
  // so a busy page (a list taking live events) costs at most one copy per write, not one per event.
  let queued = false;
  let writing = false;
  let again = false;
  const schedule = () => {
    if (writing) again = true;
    else if (!queued) {
      queued = true;
      queueMicrotask(write);
    }
  };
  const write = () => {
    if (!queued) return;
    queued = false;
    writing = true;
    const newest = queryClient
      .getQueryCache()
      .getAll()
      // With data, whatever the last fetch did: a refetch that failed offline keeps what was seen.
      .filter((query) => query.state.data !== undefined && parseRecordKey(query.queryKey) !== null)
      .sort((a, b) => b.state.dataUpdatedAt - a.state.dataUpdatedAt)
      .slice(0, MAX_KEPT_QUERIES);
    const chosen = new Set(newest.map((query) => query.queryHash));
    // Through JSON: only what the server sent is kept (no promise or error object of a fetch in flight).
    const state = JSON.parse(JSON.stringify(dehydrate(queryClient, { shouldDehydrateQuery: (query) => chosen.has(query.queryHash) }))) as DehydratedState;
    void db
      .put('state', { savedAt: Date.now(), state }, 'records')
      .catch((error: unknown) => console.error('Could not keep the records for offline reading', error))
      .finally(() => {
        writing = false;
        if (!again) return;
        again = false;
        schedule();
      });
  };
  // Per burst of cache changes (a microtask, not a timer: a timer may not run before the page goes away).
  const unsubscribe = queryClient.getQueryCache().subscribe((event) => {
    if (event.type === 'updated' && parseRecordKey(event.query.queryKey) !== null) schedule();
  });
  return () => {
    unsubscribe();
    // What is still to write goes now: closing waits for the write's transaction.
    if (again) {
      queued = true;
      again = false;
    }
    if (queued) write();
    db.close();
  };
}

/**
 * On signing out: what this user last saw leaves the device (another person may use it
 * next). Their edits waiting to sync stay, and go when they sign in again.
 */
export async function forgetRecordsSeen(userId: string): Promise<void> {
  await deleteDB(`tandem-cache-${userId}`).catch(() => {});
}
