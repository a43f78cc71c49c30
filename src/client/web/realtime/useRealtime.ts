import { useQueryClient } from '@tanstack/react-query';
import { skipToken } from '@tanstack/react-query';
import { useRef } from 'react';
import { recordApi } from '../modules/api.ts';
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
 * What a page needs of the record events: some modules of the org (all when undefined), one
 * module (a list page), one record (a detail page), or none (null: pages with streams of
 * their own, such as the inbox and the dashboard).
 */
export type RealtimeScope = ModuleName[] | undefined | { module: ModuleName; id?: string } | null;

/**
 * Subscribes to the record events the page needs through the one WebSocket (or polling,
 * when the link falls back) and keeps every cached record query of them current: patched
 * from the event where it can be, refetched where it cannot. Mount once, near the root; a
 * new scope is a new subscription, which refetches what it covers when it starts.
 */
export function useRealtime(scope: RealtimeScope, options: RealtimeOptions) {
  const queryClient = useQueryClient();
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const startedOnce = useRef(false);
  const one = scope && !Array.isArray(scope) ? (scope as { module: ModuleName; id?: string }) : null;
  const modules: ModuleName[] | undefined = one ? [one.module] : Array.isArray(scope) ? scope : undefined;
  const scopeKey = JSON.stringify(scope === null ? null : (one ?? modules ?? 'all'));
  const started = useRef(scopeKey);
  if (started.current !== scopeKey) {
    started.current = scopeKey;
    startedOnce.current = false;
  }

  const handlers = {
    onStarted() {
      // Queries fetched before the subscription was positioned in the log may have missed an
      // event in between; on the first start, refetch what is shown (later restarts resume exactly).
      if (startedOnce.current) return;
      startedOnce.current = true;
      void queryClient.invalidateQueries({
        predicate: (query) => {
          const key = parseRecordKey(query.queryKey);
          if (key === null || (modules && !modules.includes(key.module))) return false;
          return !one?.id || (key.kind === 'byId' && key.id === one.id);
        },
      });
    },
    onData({ data: item }: { data: StreamItem }) {
      const { event } = applyStreamItem(queryClient, item);
      if (event && event.userId !== optionsRef.current.userId) flash(event.module, event.recordId, changedFields(event));
      optionsRef.current.onItem?.(item);
    },
  };
  // Both hooks always run (hooks keep their order); the one the scope does not use is skipped.
  const org = trpc.events.onAny.useSubscription(scope === null || one ? skipToken : modules ? { modules } : {}, handlers);
  const record = recordApi(one?.module ?? 'jobs').onChange.useSubscription(one ? (one.id ? { id: one.id } : {}) : skipToken, handlers as never);
  const subscription = one ? record : org;

  // A lost session signs out; anything else is retried, refetching what is shown.
  useRetryAfterServerError(subscription, {
    onRetry: () => (startedOnce.current = false),
    onUnauthorized: () => optionsRef.current.onUnauthorized?.(),
  });
}
