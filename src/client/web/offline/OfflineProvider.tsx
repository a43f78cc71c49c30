import { useQueryClient } from '@tanstack/react-query';
import { getQueryKey } from '@trpc/react-query';
import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { newIdempotencyKey } from '../../link/request.ts';
import type { ModuleName } from '../../../shared/modules.ts';
import { isCachedRecord, type CachedRecord } from '../realtime/patch.ts';
import { useSession } from '../session/SessionContext.tsx';
import { useConnection } from '../TandemProvider.tsx';
import { trpc } from '../trpc.ts';
import { keepRecordsForOffline } from './persist.ts';
import { OfflineQueue } from './queue.ts';
import { memoryStore, openOfflineStore, type PendingChange } from './store.ts';

interface OfflineValue {
  changes: readonly PendingChange[];
  /** Null until the kept changes are loaded. */
  queue: OfflineQueue | null;
}

const OfflineContext = createContext<OfflineValue>({ changes: [], queue: null });

/** Each module's update, as the queue sends it (the six have one shape). */
type UpdateClient = Record<
  ModuleName,
  { update: { mutate(input: { id: string; expectedVersion: number; patch: Record<string, unknown>; idempotencyKey: string }): Promise<CachedRecord> } }
>;

/**
 * The signed-in user's field edits not yet confirmed by the server (offline/queue.ts): loaded
 * from IndexedDB at start, sent when the connection is (back) up, and written into the
 * record's cache when the server takes them.
 */
export function OfflineProvider({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const connection = useConnection();
  const utils = trpc.useUtils();
  const queryClient = useQueryClient();
  const [changes, setChanges] = useState<readonly PendingChange[]>([]);
  const [queue, setQueue] = useState<OfflineQueue | null>(null);
  const clientRef = useRef(utils.client as unknown as UpdateClient);
  clientRef.current = utils.client as unknown as UpdateClient;

  useEffect(() => {
    let closed = false;
    let opened: { close(): void } | undefined;
    void (async () => {
      const store = await openOfflineStore(user.id).catch(() => memoryStore());
      opened = store;
      if (closed) return store.close();
      const created = new OfflineQueue({
        store,
        send: (change, expectedVersion) =>
          clientRef.current[change.module].update.mutate({ id: change.recordId, expectedVersion, patch: { [change.field]: change.value }, idempotencyKey: change.idempotencyKey }),
        online: () => connection.state === 'open' || connection.state === 'fallback-polling',
        onChanges: (next) => setChanges([...next]),
        onSent: (change, record) => {
          const key = getQueryKey(trpc[change.module].byId, { id: change.recordId }, 'query');
          const cached = queryClient.getQueryData(key);
          if (!isCachedRecord(cached) || cached.version <= record.version) queryClient.setQueryData(key, record);
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

/** The newest kept edit of one field of one record, if any. */
export function usePendingChange(module: ModuleName, recordId: string, field: string): PendingChange | undefined {
  const { changes } = useOffline();
  return changes.findLast((change) => change.module === module && change.recordId === recordId && change.field === field);
}
