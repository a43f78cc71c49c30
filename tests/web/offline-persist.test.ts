import 'fake-indexeddb/auto';
import { QueryClient } from '@tanstack/react-query';
import { getQueryKey } from '@trpc/react-query';
import { describe, expect, it } from 'vitest';
import { forgetRecordsSeen, keepRecordsForOffline } from '../../src/client/web/offline/persist.ts';
import { trpc } from '../../src/client/web/trpc.ts';

// What was last seen of records, kept in IndexedDB (fake-indexeddb, the browser's API) for reading offline.

describe('records kept for reading offline', () => {
  it('keeps records and lists with data (a failed refetch included), a new page starts with them, and signing out forgets them', async () => {
    (globalThis as { window?: unknown }).window ??= globalThis;
    (globalThis as { document?: unknown }).document ??= { addEventListener() {}, removeEventListener() {} };
    (globalThis as { addEventListener?: unknown }).addEventListener ??= () => {};
    (globalThis as { removeEventListener?: unknown }).removeEventListener ??= () => {};
    const before = new QueryClient();
    const stop = await keepRecordsForOffline(before, 'kept-user');
    const byId = getQueryKey(trpc.jobs.byId, { id: 'job-1' }, 'query');
    before.setQueryData(byId, { id: 'job-1', version: 3, title: 'Seen before' });
    before.setQueryData([['presence', 'list'], { type: 'query' }], ['not a record']);
    // Its refetch fails offline: what was seen stays, and is kept.
    await before.fetchQuery({ queryKey: byId, queryFn: () => Promise.reject(new Error('offline')), staleTime: 0 }).catch(() => {});
    before.setQueryData(getQueryKey(trpc.jobs.list, { limit: 25 }, 'infinite'), { pages: [{ items: [], nextCursor: null }], pageParams: [null] });
    stop();

    const after = new QueryClient();
    const stopAfter = await keepRecordsForOffline(after, 'kept-user');
    expect(after.getQueryData(byId)).toEqual({ id: 'job-1', version: 3, title: 'Seen before' });
    expect(after.getQueryData(getQueryKey(trpc.jobs.list, { limit: 25 }, 'infinite'))).toMatchObject({ pages: [{ items: [] }] });
    expect(after.getQueryData([['presence', 'list'], { type: 'query' }])).toBeUndefined();
    stopAfter();
    // Another user of this browser does not get them.
    const other = new QueryClient();
    (await keepRecordsForOffline(other, 'someone-else'))();
    expect(other.getQueryData(byId)).toBeUndefined();

    // Signing out forgets them.
    await forgetRecordsSeen('kept-user');
    const again = new QueryClient();
    (await keepRecordsForOffline(again, 'kept-user'))();
    expect(again.getQueryData(byId)).toBeUndefined();
  });
});
