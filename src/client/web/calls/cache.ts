import type { QueryClient } from '@tanstack/react-query';
import { getQueryKey } from '@trpc/react-query';
import { CALL_STATUSES, type Call, type CallStatus } from '../../../shared/comms.ts';
import { whenAnswered } from '../inbox/cache.ts';
import { inputChoice } from '../realtime/query-keys.ts';
import { trpc } from '../trpc.ts';

/** What `calls.list` answers, as cached. */
export interface CallPage {
  items: Call[];
}

/**
 * A call from an event put into a cached list (newest first, filtered by `status`): replaces
 * an older version of it, is added when new, leaves a list whose status it no longer has.
 * Unchanged (the same object) when the list has this version or a newer one.
 */
export function withCall(page: CallPage, call: Call, status?: CallStatus): CallPage {
  const known = page.items.find((item) => item.id === call.id);
  if (known && known.version >= call.version) return page;
  const others = page.items.filter((item) => item.id !== call.id);
  if (status && call.status !== status) return known ? { ...page, items: others } : page;
  if (known) return { ...page, items: page.items.map((item) => (item.id === call.id ? call : item)) };
  const at = others.findIndex((item) => item.createdAt < call.createdAt || (item.createdAt === call.createdAt && item.id < call.id));
  return { ...page, items: at < 0 ? [...others, call] : [...others.slice(0, at), call, ...others.slice(at)] };
}

/** Puts a call into every cached `calls.list`; returns how many changed. */
export function applyCall(queryClient: QueryClient, call: Call): number {
  let patched = 0;
  for (const query of queryClient.getQueryCache().findAll({ queryKey: getQueryKey(trpc.calls.list) })) {
    const data = query.state.data as CallPage | undefined;
    if (!data) {
      whenAnswered(query, () => applyCall(queryClient, call));
      continue;
    }
    const next = withCall(data, call, inputChoice(query.queryKey, 'status', CALL_STATUSES));
    if (next === data) continue;
    queryClient.setQueryData(query.queryKey, next);
    patched += 1;
    // A list request under way may have been answered before this call: ask again.
    if (query.state.fetchStatus === 'fetching') void queryClient.invalidateQueries({ queryKey: query.queryKey, exact: true });
  }
  return patched;
}
