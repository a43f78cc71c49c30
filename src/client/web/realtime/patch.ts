import type { InfiniteData, QueryClient, QueryKey } from '@tanstack/react-query';
import { isResync, type CrmEvent, type StreamItem } from '../../../shared/events.ts';
import { modules, type ModuleName } from '../../../shared/modules.ts';

/**
 * Keeping the React Query cache current from the event stream, without refetching
 * where an event says exactly what changed. Pure functions over cached data, plus
 * `applyStreamItem`, which walks a QueryClient's cache with them.
 *
 * The cache keys are @trpc/react-query's: `[['escrows', 'byId'], { input, type }]`.
 */

/** A record as cached: the meta fields every module has, and its own fields. */
export interface CachedRecord {
  id: string;
  version: number;
  [field: string]: unknown;
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
}

export type RecordKey =
  | { module: ModuleName; kind: 'byId'; id: string }
  | { module: ModuleName; kind: 'list'; filter: ListFilter };

/** Which of our record queries a cache key is, or null for anything else. */
export function parseRecordKey(key: QueryKey): RecordKey | null {
  const [path, meta] = key as [unknown, { input?: Record<string, unknown> } | undefined];
  if (!Array.isArray(path) || path.length !== 2) return null;
  const [module, procedure] = path as [string, string];
  if (!(module in modules)) return null;
  const input = meta?.input ?? {};
  if (procedure === 'byId' && typeof input.id === 'string') return { module: module as ModuleName, kind: 'byId', id: input.id };
  if (procedure === 'list') {
    return {
      module: module as ModuleName,
      kind: 'list',
      filter: { search: (input.search as string | undefined) || undefined, status: (input.status as string | undefined) || undefined },
    };
  }
  return null;
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
  if (event.action === 'created') return { type: 'gap' };
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
    const record = event.data as unknown as CachedRecord;
    if (filter.status && statusOf(module, record) !== filter.status) return { type: 'ignore' };
    const [first, ...rest] = data.pages;
    if (!first) return { type: 'invalidate' };
    return { type: 'apply', data: { ...data, pages: [{ ...first, items: [record, ...first.items] }, ...rest] } };
  }

  if (event.action === 'deleted') {
    if (!located) return { type: 'ignore' };
    return { type: 'apply', data: replaceItem(data, located, null) };
  }

  const fields = changedFields(event);
  const mayMove =
    (filter.status !== undefined && fields.includes(definition.statusField)) ||
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
  const cache = queryClient.getQueryCache();
  let patched = 0;
  let invalidated = 0;
  const invalidate = (queryKey: QueryKey) => {
    invalidated += 1;
    void queryClient.invalidateQueries({ queryKey, exact: true });
  };

  if (isResync(item)) {
    for (const query of cache.getAll()) {
      const key = parseRecordKey(query.queryKey);
      if (!key || (item.modules && !item.modules.includes(key.module))) continue;
      if (item.recordId && key.kind === 'byId' && key.id !== item.recordId) continue;
      invalidate(query.queryKey);
    }
    return { event: null, patched, invalidated };
  }

  const event = item;
  for (const query of cache.getAll()) {
    const key = parseRecordKey(query.queryKey);
    if (!key || key.module !== event.module) continue;
    if (key.kind === 'byId') {
      if (key.id !== event.recordId) continue;
      const cached = query.state.data as CachedRecord | undefined;
      if (event.action === 'deleted') {
        queryClient.setQueryData<Deletion>(deletedKey(event.module, event.recordId), { userId: event.userId, timestamp: event.timestamp });
        // The last state stays visible under the "deleted" notice; refetching would only answer NOT_FOUND.
        void queryClient.cancelQueries({ queryKey: query.queryKey, exact: true });
        continue;
      }
      if (!cached) continue;
      const outcome = patchRecord(cached, event);
      if (outcome.type === 'apply') {
        queryClient.setQueryData(query.queryKey, outcome.record);
        patched += 1;
      } else if (outcome.type === 'gap') invalidate(query.queryKey);
    } else {
      const data = query.state.data as ListData | undefined;
      if (!data) continue;
      const outcome = patchList(event.module, data, key.filter, event);
      if (outcome.type === 'apply') {
        queryClient.setQueryData(query.queryKey, outcome.data);
        patched += 1;
      } else if (outcome.type === 'invalidate') invalidate(query.queryKey);
    }
  }
  return { event, patched, invalidated };
}
