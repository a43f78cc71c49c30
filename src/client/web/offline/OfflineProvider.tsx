import { useQueryClient } from '@tanstack/react-query';
import { getQueryKey } from '@trpc/react-query';
import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { newIdempotencyKey } from '../../link/request.ts';
import type { ModuleName } from '../../../shared/modules.ts';
import { isCachedRecord } from '../realtime/patch.ts';
import { useSession } from '../session/SessionContext.tsx';
import { useConnection } from '../TandemProvider.tsx';
import type { ConnectionStatus } from '../../trpc.ts';
import { trpc } from '../trpc.ts';
import { keepRecordsForOffline } from './persist.ts';
import { OfflineQueue } from './queue.ts';
import { sendChange, type RecordCalls } from './send.ts';
import { memoryStore, openOfflineStore, type PendingChange, type PendingCreate, type PendingDelete, type PendingEdit } from './store.ts';

interface OfflineValue {
  changes: readonly PendingChange[];
  /** Null until the kept changes are loaded. */
  queue: OfflineQueue | null;
}

const OfflineContext = createContext<OfflineValue>({ changes: [], queue: null });

/**
 * The signed-in user's changes (field edits, creates, deletes) not yet confirmed by the
 * server (offline/queue.ts): loaded from IndexedDB at start, sent when the connection is
 * (back) up, and written into the cache when the server takes them.
 */
export function OfflineProvider({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const connection = useConnection();
  const utils = trpc.useUtils();
  const queryClient = useQueryClient();
  const [changes, setChanges] = useState<readonly PendingChange[]>([]);
  const [queue, setQueue] = useState<OfflineQueue | null>(null);
  const clientRef = useRef(utils.client as unknown as RecordCalls);
  clientRef.current = utils.client as unknown as RecordCalls;

  useEffect(() => {
    let closed = false;
    let opened: { close(): void } | undefined;
    void (async () => {
      const store = await openOfflineStore(user.id).catch(() => memoryStore());
      opened = store;
      if (closed) return store.close();
      const created = new OfflineQueue({
        store,
        send: (change) => sendChange(clientRef.current, change),
        online: () => connection.state === 'open' || connection.state === 'fallback-polling',
        settled: () => firstAttempt(connection),
        onChanges: (next) => setChanges([...next]),
        onSent: (change, record) => {
          if (record) {
            const key = getQueryKey(trpc[change.module].byId, { id: record.id }, 'query');
            const cached = queryClient.getQueryData(key);
            if (!isCachedRecord(cached) || cached.version <= record.version) queryClient.setQueryData(key, record);
          }
          // Its pending row (or its mark) has just gone: the lists show the server's word, whether or not its event came first.
          if (change.kind !== 'edit') void queryClient.invalidateQueries({ queryKey: getQueryKey(trpc[change.module].list) });
        },
        newKey: newIdempotencyKey,
      });
      await created.load();
      if (closed) return;
      setQueue(created);
      void created.flush();
    })();
    return () => {
      closed = true;
      opened?.close();
    };
  }, [user.id, connection, queryClient]);

  // The connection back (or HTTP answering): what waited goes.
  useEffect(
    () =>
      connection.subscribe(({ state }) => {
        if (state === 'open' || state === 'fallback-polling') void queue?.flush();
      }),
    [connection, queue],
  );

  // What was last seen of records, for reading while the server cannot be reached: read in
  // before the pages mount (they would otherwise ask the server first), kept as they change.
  const [restored, setRestored] = useState(false);
  useEffect(() => {
    let stop: (() => void) | undefined;
    let ended = false;
    const giveUp = setTimeout(() => setRestored(true), 1_000);
    keepRecordsForOffline(queryClient, user.id)
      .then((unkeep) => {
        if (ended) unkeep();
        else stop = unkeep;
      })
      .catch(() => {})
      .finally(() => {
        clearTimeout(giveUp);
        setRestored(true);
      });
    return () => {
      ended = true;
      clearTimeout(giveUp);
      stop?.();
    };
  }, [queryClient, user.id]);

  const value = useMemo(() => ({ changes, queue }), [changes, queue]);
  return <OfflineContext.Provider value={value}>{restored ? children : null}</OfflineContext.Provider>;
}

export function useOffline(): OfflineValue {
  return useContext(OfflineContext);
}

/** How long a change made while the page's first connection is under way waits for it before it is kept for later. */
const FIRST_ATTEMPT_WAIT_MS = 3_000;

/** Resolves when the connection's first attempt has ended (or at once, when it has). */
function firstAttempt(connection: ConnectionStatus): Promise<void> {
  if (connection.state !== 'connecting') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop();
      resolve();
    };
    const timer = setTimeout(done, FIRST_ATTEMPT_WAIT_MS);
    const stop = connection.subscribe(({ state }) => {
      if (state !== 'connecting') done();
    });
  });
}

/** The newest kept edit of one field of one record, if any. */
export function usePendingChange(module: ModuleName, recordId: string, field: string): PendingEdit | undefined {
  const { changes } = useOffline();
  return changes.findLast((change): change is PendingEdit => change.kind === 'edit' && change.module === module && change.recordId === recordId && change.field === field);
}

/** The module's records created on this device and not yet on the server, oldest first. */
export function usePendingCreates(module: ModuleName): PendingCreate[] {
  const { changes } = useOffline();
  return useMemo(() => changes.filter((change): change is PendingCreate => change.kind === 'create' && change.module === module), [changes, module]);
}

/** The module's records deleted on this device and not yet on the server, by id. */
export function usePendingDeletes(module: ModuleName): ReadonlyMap<string, PendingDelete> {
  const { changes } = useOffline();
  return useMemo(
    () => new Map(changes.filter((change): change is PendingDelete => change.kind === 'delete' && change.module === module).map((change) => [change.recordId, change])),
    [changes, module],
  );
}

/** The kept delete of one record, if any. */
export function usePendingDelete(module: ModuleName, recordId: string): PendingDelete | undefined {
  return usePendingDeletes(module).get(recordId);
}
