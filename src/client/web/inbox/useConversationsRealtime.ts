import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import type { ConversationEvent } from '../../../shared/comms.ts';
import type { StreamItem } from '../../../shared/events.ts';
import { errorCode } from '../modules/api.ts';
import { trpc } from '../trpc.ts';
import { applyConversationItem, parseConversationKey } from './cache.ts';

/**
 * Follows the org's conversations (`conversations.onChange`, over the socket or by polling
 * the log while it is blocked) and keeps every cached conversation list, conversation and
 * thread current from the events. Mount once per session: the inbox badge needs it on
 * every page.
 */
export function useConversationsRealtime(myId: string, onItem?: (item: StreamItem<ConversationEvent>) => void) {
  const queryClient = useQueryClient();
  const startedOnce = useRef(false);
  const onItemRef = useRef(onItem);
  onItemRef.current = onItem;

  const subscription = trpc.conversations.onChange.useSubscription(undefined, {
    onStarted() {
      // What was fetched before the stream was positioned in the log may have missed an event
      // in between: refetch it once (later restarts resume from the last event exactly).
      if (startedOnce.current) return;
      startedOnce.current = true;
      void queryClient.invalidateQueries({ predicate: (query) => parseConversationKey(query.queryKey) !== null });
    },
    onData({ data: item }) {
      applyConversationItem(queryClient, item, myId);
      onItemRef.current?.(item);
    },
  });

  // The link survives transport trouble by itself; an error here is the server ending the
  // stream. A lost session is handled by the app's record stream; anything else is retried.
  const { status, error, reset } = subscription;
  useEffect(() => {
    if (status !== 'error' || errorCode(error) === 'UNAUTHORIZED') return;
    const timer = setTimeout(() => {
      startedOnce.current = false;
      reset();
    }, 2_000);
    return () => clearTimeout(timer);
  }, [status, error, reset]);
}
