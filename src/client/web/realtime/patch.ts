import { partialMatchKey, type InfiniteData, type QueryClient, type QueryKey } from '@tanstack/react-query';
import { getQueryKey } from '@trpc/react-query';
import { isResync, type CrmEvent, type StreamItem } from '../../../shared/events.ts';
import { MODULE_NAMES, modules, type ModuleName } from '../../../shared/modules.ts';
import { trpc } from '../trpc.ts';
import { inputField } from './query-keys.ts';

/**
 * Keeping the React Query cache current from the event stream, without refetching
 * where an event says exactly what changed. Pure functions over cached data, plus
 * `applyStreamItem`, which walks a QueryClient's cache with them.
 *
 * Which cached queries an event touches is found with tRPC's `getQueryKey` (see query-keys.ts),
 * not by reading @trpc/react-query's key layout.
 */

/** A record as cached: the meta fields every module has, and its own fields. */
export interface CachedRecord {
  id: string;
  version: number;
  [field: string]: unknown;
}

/** Whether cached data is a record (every module's records have an id and a version). */
export function isCachedRecord(value: unknown): value is CachedRecord {
  return typeof value === 'object' && value !== null && 'id' in value && typeof value.id === 'string' && 'version' in value && typeof value.version === 'number';
}

export interface ListPage {
  items: CachedRecord[];
  nextCursor: string | null;
}

export type ListData = InfiniteData<ListPage, unknown>;

/** The list filters that decide whether a record belongs to a list. */
export interface ListFilter {
  search?: string | undefined;
  status?: string | undefined;
  teamId?: string | undefined;
}

export type RecordKey = { module: ModuleName; kind: 'byId'; id: string } | { module: ModuleName; kind: 'list'; filter: ListFilter };

/**
 * The keys of every query of a module's `byId` and `list`, built by tRPC (`getQueryKey`): a
 * cached key matches one by prefix, whatever its input and type (query or infinite).
 */
const recordQueryKeys = (module: ModuleName) => ({ byId: getQueryKey(trpc[module].byId), list: getQueryKey(trpc[module].list) });

const filterText = (key: QueryKey, field: keyof ListFilter) => {
  const value = inputField(key, field);
  return typeof value === 'string' && value !== '' ? value : undefined;
};

/** The filter of a cached list query. */
const listFilterOf = (key: QueryKey): ListFilter => ({ search: filterText(key, 'search'), status: filterText(key, 'status'), teamId: filterText(key, 'teamId') });

/** Which of our record queries a cache key is, or null for anything else. */
export function parseRecordKey(key: QueryKey): RecordKey | null {
  for (const module of MODULE_NAMES) {
    const keys = recordQueryKeys(module);
    if (partialMatchKey(key, keys.byId)) {
      const id = inputField(key, 'id');
      return typeof id === 'string' ? { module, kind: 'byId', id } : null;
    }
    if (partialMatchKey(key, keys.list)) return { module, kind: 'list', filter: listFilterOf(key) };
  }
  return null;
}

/** The cached `byId` queries of a module (of one record, given its id) and its cached lists. */
function recordQueries(queryClient: QueryClient, module: ModuleName, id?: string) {
  const cache = queryClient.getQueryCache();
  return {
    byId: cache.findAll({ queryKey: getQueryKey(trpc[module].byId, id === undefined ? undefined : { id }) }),
    lists: cache.findAll({ queryKey: getQueryKey(trpc[module].list) }),
  };
}

/** What an event means for one cached record. */
export type RecordOutcome =
  | { type: 'apply'; record: CachedRecord }
  /** Already reflected (an older, equal or duplicate version). */
  | { type: 'ignore' }
  /** Versions were skipped: the cache cannot be patched, refetch. */
  | { type: 'gap' }
  | { type: 'deleted' };

/**
 * An `updated` event applies only on top of exactly the version before it: an event
 * for a version we already have (a duplicate, or our own write whose result came back
 * first) is ignored, one further ahead means we missed some, so we refetch.
 */
export function patchRecord(cached: CachedRecord, event: CrmEvent): RecordOutcome {
  if (event.recordId !== cached.id) return { type: 'ignore' };
  if (event.action === 'deleted') return { type: 'deleted' };
  if (event.version <= cached.version) return { type: 'ignore' };
  if (event.action === 'created' || event.action === 'restored') return { type: 'gap' };
  if (event.version !== cached.version + 1) return { type: 'gap' };
  const next: CachedRecord = { ...cached, version: event.version, updatedAt: event.timestamp, updatedById: event.userId };
  for (const [field, change] of Object.entries(event.data as Record<string, { to: unknown } | undefined>)) {
    if (change) next[field] = change.to;
  }
  return { type: 'apply', record: next };
}

/** The fields an `updated` event changed. */
export function changedFields(event: CrmEvent): string[] {
  return event.action === 'updated' ? Object.keys(event.data) : [];
}

function statusOf(module: ModuleName, record: Record<string, unknown>): unknown {
  return record[modules[module].statusField];
}

/** What an event means for one cached list. */
export type ListOutcome = { type: 'apply'; data: ListData } | { type: 'ignore' } | { type: 'invalidate' };

/**
 * A list is newest first by creation, filtered by `status` and `search`:
 * - `created`: prepended when the list has no search and its status matches (the server's
 *   search rules stay on the server: a searched list is refetched);
 * - `updated`: the row is patched as `patchRecord` does; when the status or a searched
 *   field changes on a filtered list, the list is refetched, since the record may join or leave it;
 * - `deleted`: the row is removed.
 */
export function patchList(module: ModuleName, data: ListData, filter: ListFilter, event: CrmEvent): ListOutcome {
  const definition = modules[module];
  const located = locate(data, event.recordId);

  if (event.action === 'created') {
    if (located) return { type: 'ignore' };
    if (filter.search) return { type: 'invalidate' };
    const record: unknown = event.data;
    // A created event carries the whole record; anything else cannot be put in a list.
    if (!isCachedRecord(record)) return { type: 'invalidate' };
    if (filter.status && statusOf(module, record) !== filter.status) return { type: 'ignore' };
    if (filter.teamId && record.teamId !== filter.teamId) return { type: 'ignore' };
    const [first, ...rest] = data.pages;
    if (!first) return { type: 'invalidate' };
    return { type: 'apply', data: { ...data, pages: [{ ...first, items: [record, ...first.items] }, ...rest] } };
  }

  if (event.action === 'deleted') {
    if (!located) return { type: 'ignore' };
    return { type: 'apply', data: replaceItem(data, located, null) };
  }

  // A restored record goes back where its creation time puts it, which this page may not hold: read the list again.
  if (event.action === 'restored') return located ? { type: 'ignore' } : { type: 'invalidate' };

  const fields = changedFields(event);
  const mayMove =
    (filter.status !== undefined && fields.includes(definition.statusField)) ||
    (filter.teamId !== undefined && fields.includes('teamId')) ||
    (filter.search !== undefined && fields.some((field) => (definition.search as readonly string[]).includes(field)));
  if (mayMove) return { type: 'invalidate' };
  if (!located) return { type: 'ignore' };
  const outcome = patchRecord(located.item, event);
  if (outcome.type === 'gap') return { type: 'invalidate' };
  if (outcome.type !== 'apply') return { type: 'ignore' };
  return { type: 'apply', data: replaceItem(data, located, outcome.record) };
}

interface Located {
  page: number;
  index: number;
  item: CachedRecord;
}

function locate(data: ListData, id: string): Located | undefined {
  for (const [page, { items }] of data.pages.entries()) {
    const index = items.findIndex((item) => item.id === id);
    if (index >= 0) return { page, index, item: items[index]! };
  }
  return undefined;
}

function replaceItem(data: ListData, at: Located, item: CachedRecord | null): ListData {
  return {
    ...data,
    pages: data.pages.map((page, i) => {
      if (i !== at.page) return page;
      const items = [...page.items];
      if (item) items[at.index] = item;
      else items.splice(at.index, 1);
      return { ...page, items };
    }),
  };
}

/** Where the app remembers that an open record was deleted, and by whom. */
export const deletedKey = (module: ModuleName, id: string) => ['tandem', 'deleted', module, id] as const;

export interface Deletion {
  userId: string;
  timestamp: string;
}

/** What `applyStreamItem` did, for the UI's flashes and for tests. */
export interface StreamItemResult {
  /** The record an event changed and the fields it changed (empty for created/deleted), or null for a resync. */
  event: CrmEvent | null;
  patched: number;
  invalidated: number;
}

/**
 * Applies one item of the event stream to every record query in the cache: patches what
 * it can, invalidates (refetches) what it cannot, and on RESYNC invalidates every query
 * of the affected modules.
 */
export function applyStreamItem(queryClient: QueryClient, item: StreamItem): StreamItemResult {
  let patched = 0;
  let invalidated = 0;
  const invalidate = (queryKey: QueryKey) => {
    invalidated += 1;
    void queryClient.invalidateQueries({ queryKey, exact: true });
  };

  if (isResync(item)) {
    const affected = item.modules;
    for (const module of MODULE_NAMES.filter((name) => !affected || affected.includes(name))) {
      const { byId, lists } = recordQueries(queryClient, module, item.recordId || undefined);
      for (const query of [...byId, ...lists]) invalidate(query.queryKey);
    }
    return { event: null, patched, invalidated };
  }

  const event = item;
  const { byId, lists } = recordQueries(queryClient, event.module, event.recordId);
  for (const query of byId) {
    const cached = query.state.data as CachedRecord | undefined;
    if (event.action === 'deleted') {
      queryClient.setQueryData<Deletion>(deletedKey(event.module, event.recordId), { userId: event.userId, timestamp: event.timestamp });
      // The last state stays visible under the "deleted" notice; refetching would only answer NOT_FOUND.
      void queryClient.cancelQueries({ queryKey: query.queryKey, exact: true });
      continue;
    }
    if (event.action === 'restored') queryClient.setQueryData<Deletion | null>(deletedKey(event.module, event.recordId), null);
    if (!cached) continue;
    const outcome = patchRecord(cached, event);
    if (outcome.type === 'apply') {
      queryClient.setQueryData(query.queryKey, outcome.record);
      patched += 1;
    } else if (outcome.type === 'gap') invalidate(query.queryKey);
  }
  for (const query of lists) {
    const data = query.state.data as ListData | undefined;
    if (!data) continue;
    const outcome = patchList(event.module, data, listFilterOf(query.queryKey), event);
    if (outcome.type === 'apply') {
      queryClient.setQueryData(query.queryKey, outcome.data);
      patched += 1;
    } else if (outcome.type === 'invalidate') invalidate(query.queryKey);
  }
  return { event, patched, invalidated };
}
