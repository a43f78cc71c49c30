import { useQueryClient } from '@tanstack/react-query';
import { useRef } from 'react';
import type { StreamItem } from '../../../shared/events.ts';
import type { ModuleName } from '../../../shared/modules.ts';
import { trpc } from '../trpc.ts';
import { flash } from './flash.ts';
import { applyStreamItem, changedFields, parseRecordKey } from './patch.ts';
import { useRetryAfterServerError } from './useRetryAfterServerError.ts';

export interface RealtimeOptions {
  /** The signed-in user: their own changes do not flash. */
  userId: string;
  /** Called with every item after the cache was patched (for tests and future features). */
  onItem?: (item: StreamItem) => void;
  /** The server ended the stream because the session did. */
  onUnauthorized?: () => void;
}

/**
 * Subscribes to the org's events through the one WebSocket (or polling, when the link
 * falls back) and keeps every cached record query current: patched from the event where
 * it can be, refetched where it cannot. Mount once, near the root.
 */
export function useRealtime(modules: ModuleName[] | undefined, options: RealtimeOptions) {
  const queryClient = useQueryClient();
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const startedOnce = useRef(false);

  const subscription = trpc.events.onAny.useSubscription(modules ? { modules } : {}, {
    onStarted() {
      // Queries fetched before the subscription was positioned in the log may have missed an
      // event in between; on the first start, refetch what is shown (later restarts resume exactly).
      if (startedOnce.current) return;
      startedOnce.current = true;
      void queryClient.invalidateQueries({
        predicate: (query) => {
          const key = parseRecordKey(query.queryKey);
          return key !== null && (!modules || modules.includes(key.module));
        },
      });
    },
    onData({ data: item }) {
      const { event } = applyStreamItem(queryClient, item);
      if (event && event.userId !== optionsRef.current.userId) flash(event.module, event.recordId, changedFields(event));
      optionsRef.current.onItem?.(item);
    },
  });

  // A lost session signs out; anything else is retried, refetching what is shown.
  useRetryAfterServerError(subscription, {
    onRetry: () => (startedOnce.current = false),
    onUnauthorized: () => optionsRef.current.onUnauthorized?.(),
  });
}
