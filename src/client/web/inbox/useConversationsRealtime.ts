import { useQueryClient } from '@tanstack/react-query';
import { useRef } from 'react';
import type { ConversationEvent } from '../../../shared/comms.ts';
import type { StreamItem } from '../../../shared/events.ts';
import { trpc } from '../trpc.ts';
import { applyConversationItem, parseConversationKey } from './cache.ts';
import { useRetryAfterServerError } from '../realtime/useRetryAfterServerError.ts';

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

  useRetryAfterServerError(subscription, { onRetry: () => (startedOnce.current = false) });
}
