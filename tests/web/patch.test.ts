import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it, vi } from 'vitest';
import type { CrmEvent, ResyncSignal } from '../../src/shared/events.ts';
import { applyStreamItem, deletedKey, parseRecordKey, patchList, patchRecord, type CachedRecord, type ListData } from '../../src/client/web/realtime/patch.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';

function escrow(id: string, version = 1, extra: Partial<CachedRecord> = {}): CachedRecord {
  return {
    id,
    orgId: 'acme',
    version,
    createdAt: T0,
    updatedAt: T0,
    createdById: 'alice',
    updatedById: 'alice',
    escrowNumber: null,
    propertyAddress: `${id} Street`,
    purchasePriceCents: 100,
    status: 'opened',
    closingDate: null,
    listingId: null,
    buyerClientId: null,
    ...extra,
  };
}

let seq = 0;
function updated(id: string, version: number, changes: Record<string, { from: unknown; to: unknown }>, userId = 'bob'): CrmEvent {
  return { seq: ++seq, type: 'ESCROW_UPDATED', module: 'escrows', action: 'updated', recordId: id, version, data: changes, userId, orgId: 'acme', timestamp: T1 } as CrmEvent;
}
function created(record: CachedRecord): CrmEvent {
  return {
    seq: ++seq,
    type: 'ESCROW_CREATED',
    module: 'escrows',
    action: 'created',
    recordId: record.id,
    version: 1,
    data: record,
    userId: 'bob',
    orgId: 'acme',
    timestamp: T1,
  } as unknown as CrmEvent;
}
function deleted(record: CachedRecord): CrmEvent {
  return {
    seq: ++seq,
    type: 'ESCROW_DELETED',
    module: 'escrows',
    action: 'deleted',
    recordId: record.id,
    version: record.version + 1,
    data: record,
    userId: 'bob',
    orgId: 'acme',
    timestamp: T1,
  } as unknown as CrmEvent;
}
const list = (...pages: CachedRecord[][]): ListData => ({
  pages: pages.map((items, i) => ({ items, nextCursor: i < pages.length - 1 ? `c${i}` : null })),
  pageParams: pages.map((_, i) => (i ? `c${i - 1}` : undefined)),
});
const ids = (data: ListData) => data.pages.map((page) => page.items.map((item) => item.id));

const byIdKey = (module: string, id: string) => [[module, 'byId'], { input: { id }, type: 'query' }];
const listKey = (module: string, input: Record<string, unknown> = { limit: 25 }) => [[module, 'list'], { input, type: 'infinite' }];

describe('parseRecordKey', () => {
  it("reads @trpc/react-query's keys of byId and list queries, and nothing else", () => {
    expect(parseRecordKey(byIdKey('escrows', 'e1'))).toEqual({ module: 'escrows', kind: 'byId', id: 'e1' });
    expect(parseRecordKey(listKey('jobs', { limit: 25, search: 'roof', status: 'new' }))).toEqual({ module: 'jobs', kind: 'list', filter: { search: 'roof', status: 'new' } });
    expect(parseRecordKey(listKey('jobs', { limit: 25, search: '' }))).toEqual({ module: 'jobs', kind: 'list', filter: { search: undefined, status: undefined } });
    expect(parseRecordKey([['events', 'head'], { type: 'query' }])).toBeNull();
    expect(parseRecordKey([['auth', 'me']])).toBeNull();
    expect(parseRecordKey(['tandem', 'deleted', 'escrows', 'e1'])).toBeNull();
    expect(parseRecordKey([['escrows', 'byId'], { input: {}, type: 'query' }])).toBeNull();
  });
});

describe('patchRecord', () => {
  it('applies an update that is exactly the next version, with its meta fields', () => {
    const outcome = patchRecord(escrow('e1', 3), updated('e1', 4, { purchasePriceCents: { from: 100, to: 250 }, status: { from: 'opened', to: 'pending' } }));
    expect(outcome).toEqual({ type: 'apply', record: escrow('e1', 4, { purchasePriceCents: 250, status: 'pending', updatedAt: T1, updatedById: 'bob' }) });
  });

  it('ignores an older or equal version (a duplicate, or our own write whose answer came first)', () => {
    const event = updated('e1', 3, { purchasePriceCents: { from: 100, to: 999 } });
    expect(patchRecord(escrow('e1', 3), event)).toEqual({ type: 'ignore' });
    expect(patchRecord(escrow('e1', 5), event)).toEqual({ type: 'ignore' });
  });

  it('reports a gap when versions were skipped, instead of applying a partial change', () => {
    expect(patchRecord(escrow('e1', 1), updated('e1', 3, { status: { from: 'pending', to: 'closed' } }))).toEqual({ type: 'gap' });
  });

  it('applies a sequence once each, in order, whatever arrives twice', () => {
    let record = escrow('e1', 1);
    const events = [
      updated('e1', 2, { purchasePriceCents: { from: 100, to: 200 } }),
      updated('e1', 2, { purchasePriceCents: { from: 100, to: 200 } }),
      updated('e1', 3, { escrowNumber: { from: null, to: 'E-3' } }),
      updated('e1', 2, { purchasePriceCents: { from: 100, to: 200 } }),
    ];
    const outcomes = events.map((event) => {
      const outcome = patchRecord(record, event);
      if (outcome.type === 'apply') record = outcome.record;
      return outcome.type;
    });
    expect(outcomes).toEqual(['apply', 'ignore', 'apply', 'ignore']);
    expect(record).toMatchObject({ version: 3, purchasePriceCents: 200, escrowNumber: 'E-3' });
  });

  it('says deleted for a delete, ignores other records and a repeated create', () => {
    const record = escrow('e1', 2);
    expect(patchRecord(record, deleted(record))).toEqual({ type: 'deleted' });
    expect(patchRecord(record, updated('e2', 3, { status: { from: 'a', to: 'b' } }))).toEqual({ type: 'ignore' });
    expect(patchRecord(escrow('e1', 1), created(escrow('e1', 1)))).toEqual({ type: 'ignore' });
  });

  it('keeps fields the event does not name, including an optimistic value of ours', () => {
    const optimistic = escrow('e1', 2, { escrowNumber: 'MINE' });
    const outcome = patchRecord(optimistic, updated('e1', 3, { purchasePriceCents: { from: 100, to: 300 } }));
    expect(outcome.type === 'apply' && outcome.record).toMatchObject({ escrowNumber: 'MINE', purchasePriceCents: 300, version: 3 });
  });
});

describe('patchList', () => {
  it('prepends a created record to an unfiltered list, once', () => {
    const data = list([escrow('b'), escrow('a')], [escrow('z')]);
    const event = created(escrow('c'));
    const outcome = patchList('escrows', data, {}, event);
    expect(outcome.type === 'apply' && ids(outcome.data)).toEqual([['c', 'b', 'a'], ['z']]);
    if (outcome.type !== 'apply') return;
    expect(patchList('escrows', outcome.data, {}, event)).toEqual({ type: 'ignore' });
  });

  it('adds a created record to a status-filtered list only when its status matches', () => {
    const data = list([escrow('a', 1, { status: 'pending' })]);
    expect(patchList('escrows', data, { status: 'closed' }, created(escrow('c', 1, { status: 'opened' })))).toEqual({ type: 'ignore' });
    const outcome = patchList('escrows', data, { status: 'pending' }, created(escrow('d', 1, { status: 'pending' })));
    expect(outcome.type === 'apply' && ids(outcome.data)).toEqual([['d', 'a']]);
  });

  it("adds a created record to a team's list only when it is the team's, and refetches it when a record changes team", () => {
    const data = list([escrow('a', 1, { teamId: 't1' })]);
    expect(patchList('escrows', data, { teamId: 't1' }, created(escrow('c', 1, { teamId: 't2' })))).toEqual({ type: 'ignore' });
    const outcome = patchList('escrows', data, { teamId: 't1' }, created(escrow('d', 1, { teamId: 't1' })));
    expect(outcome.type === 'apply' && ids(outcome.data)).toEqual([['d', 'a']]);
    expect(patchList('escrows', data, { teamId: 't1' }, updated('a', 2, { teamId: { from: 't1', to: 't2' } }))).toEqual({ type: 'invalidate' });
    expect(parseRecordKey([['escrows', 'list'], { input: { limit: 25, teamId: 't1' }, type: 'infinite' }])).toEqual({ module: 'escrows', kind: 'list', filter: { teamId: 't1' } });
  });

  it('refetches a searched list on create (the server decides what matches) and an empty cache', () => {
    expect(patchList('escrows', list([escrow('a')]), { search: 'harbor' }, created(escrow('c')))).toEqual({ type: 'invalidate' });
    expect(patchList('escrows', { pages: [], pageParams: [] }, {}, created(escrow('c')))).toEqual({ type: 'invalidate' });
  });

  it('patches a row in any loaded page by version, ignoring duplicates and refetching on a gap', () => {
    const data = list([escrow('a', 1)], [escrow('b', 4)]);
    const outcome = patchList('escrows', data, {}, updated('b', 5, { purchasePriceCents: { from: 100, to: 500 } }));
    expect(outcome.type === 'apply' && outcome.data.pages[1]!.items[0]).toMatchObject({ id: 'b', version: 5, purchasePriceCents: 500 });
    expect(outcome.type === 'apply' && outcome.data.pages[0]).toBe(data.pages[0]);
    expect(patchList('escrows', data, {}, updated('b', 4, { purchasePriceCents: { from: 1, to: 2 } }))).toEqual({ type: 'ignore' });
    expect(patchList('escrows', data, {}, updated('b', 7, { purchasePriceCents: { from: 1, to: 2 } }))).toEqual({ type: 'invalidate' });
    expect(patchList('escrows', data, {}, updated('x', 2, { purchasePriceCents: { from: 1, to: 2 } }))).toEqual({ type: 'ignore' });
  });

  it('refetches a filtered list when the filtered field changes (the record may join or leave it)', () => {
    const data = list([escrow('a', 1, { status: 'pending' })]);
    expect(patchList('escrows', data, { status: 'pending' }, updated('a', 2, { status: { from: 'pending', to: 'closed' } }))).toEqual({ type: 'invalidate' });
    expect(patchList('escrows', data, { status: 'pending' }, updated('zz', 2, { status: { from: 'opened', to: 'pending' } }))).toEqual({ type: 'invalidate' });
    expect(patchList('escrows', data, { search: 'lane' }, updated('a', 2, { propertyAddress: { from: 'x', to: 'y' } }))).toEqual({ type: 'invalidate' });
    // A field that decides nothing about membership is patched in place.
    expect(patchList('escrows', data, { search: 'lane' }, updated('a', 2, { purchasePriceCents: { from: 100, to: 1 } })).type).toBe('apply');
    // The status field of clients is `kind`.
    expect(
      patchList('clients', list([{ id: 'k', version: 1, kind: 'buyer' }]), { status: 'buyer' }, {
        ...updated('k', 2, { kind: { from: 'buyer', to: 'seller' } }),
        module: 'clients',
      } as CrmEvent),
    ).toEqual({ type: 'invalidate' });
  });

  it('removes a deleted record from whichever page holds it', () => {
    const data = list([escrow('c'), escrow('b')], [escrow('a')]);
    const outcome = patchList('escrows', data, {}, deleted(escrow('a')));
    expect(outcome.type === 'apply' && ids(outcome.data)).toEqual([['c', 'b'], []]);
    expect(patchList('escrows', data, {}, deleted(escrow('q')))).toEqual({ type: 'ignore' });
  });
});

describe('applyStreamItem on a QueryClient', () => {
  function cacheWith() {
    const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity } } });
    const invalidate = vi.spyOn(queryClient, 'invalidateQueries').mockResolvedValue();
    queryClient.setQueryData(byIdKey('escrows', 'e1'), escrow('e1', 2));
    queryClient.setQueryData(byIdKey('escrows', 'e2'), escrow('e2', 1));
    queryClient.setQueryData(byIdKey('jobs', 'e1'), { id: 'e1', version: 2, title: 'same id, other module' });
    queryClient.setQueryData(listKey('escrows'), list([escrow('e2', 1), escrow('e1', 2)]));
    queryClient.setQueryData(listKey('escrows', { limit: 25, status: 'closed' }), list([]));
    queryClient.setQueryData([['events', 'head'], { type: 'query' }], { lastEventId: '9' });
    const invalidated = () => invalidate.mock.calls.map(([filters]) => JSON.stringify(filters?.queryKey));
    return { queryClient, invalidated };
  }

  it("patches the record's byId and every list holding it, and nothing in another module", () => {
    const { queryClient, invalidated } = cacheWith();
    const result = applyStreamItem(queryClient, updated('e1', 3, { purchasePriceCents: { from: 100, to: 700 } }));
    expect(result).toMatchObject({ patched: 2, invalidated: 0 });
    expect(queryClient.getQueryData(byIdKey('escrows', 'e1'))).toMatchObject({ version: 3, purchasePriceCents: 700 });
    expect((queryClient.getQueryData(listKey('escrows')) as ListData).pages[0]!.items[1]).toMatchObject({ version: 3, purchasePriceCents: 700 });
    expect(queryClient.getQueryData(byIdKey('jobs', 'e1'))).toMatchObject({ version: 2 });
    expect(invalidated()).toEqual([]);
    // The same event again changes nothing.
    expect(applyStreamItem(queryClient, updated('e1', 3, { purchasePriceCents: { from: 100, to: 701 } }))).toMatchObject({ patched: 0, invalidated: 0 });
    expect(queryClient.getQueryData(byIdKey('escrows', 'e1'))).toMatchObject({ purchasePriceCents: 700 });
  });

  it('invalidates exactly the queries that a gap makes stale', () => {
    const { queryClient, invalidated } = cacheWith();
    applyStreamItem(queryClient, updated('e1', 5, { purchasePriceCents: { from: 1, to: 2 } }));
    expect(invalidated().sort()).toEqual([JSON.stringify(byIdKey('escrows', 'e1')), JSON.stringify(listKey('escrows'))].sort());
    expect(queryClient.getQueryData(byIdKey('escrows', 'e1'))).toMatchObject({ version: 2 });
  });

  it('on delete: marks the open record deleted (by whom, when), keeps its last state, removes it from lists', () => {
    const { queryClient } = cacheWith();
    applyStreamItem(queryClient, deleted(escrow('e1', 2)));
    expect(queryClient.getQueryData(deletedKey('escrows', 'e1'))).toEqual({ userId: 'bob', timestamp: T1 });
    expect(queryClient.getQueryData(byIdKey('escrows', 'e1'))).toMatchObject({ id: 'e1', version: 2 });
    expect(ids(queryClient.getQueryData(listKey('escrows')) as ListData)).toEqual([['e2']]);
    expect(queryClient.getQueryData(deletedKey('escrows', 'e2'))).toBeUndefined();
  });

  it('on create: adds to the lists it belongs in', () => {
    const { queryClient } = cacheWith();
    applyStreamItem(queryClient, created(escrow('e3', 1, { status: 'opened' })));
    expect(ids(queryClient.getQueryData(listKey('escrows')) as ListData)).toEqual([['e3', 'e2', 'e1']]);
    expect(ids(queryClient.getQueryData(listKey('escrows', { limit: 25, status: 'closed' })) as ListData)).toEqual([[]]);
  });

  it('on RESYNC: invalidates every record query of the named modules (all of them when null)', () => {
    const resync = (modules: ResyncSignal['modules'], recordId: string | null = null): ResyncSignal => ({
      type: 'RESYNC',
      reason: 'slow_consumer',
      modules,
      recordId,
      lastEventId: '42',
    });
    let cache = cacheWith();
    expect(applyStreamItem(cache.queryClient, resync(['escrows']))).toMatchObject({ event: null, invalidated: 4 });
    expect(cache.invalidated()).not.toContain(JSON.stringify(byIdKey('jobs', 'e1')));

    cache = cacheWith();
    applyStreamItem(cache.queryClient, resync(null));
    expect(cache.invalidated()).toHaveLength(5);
    expect(cache.invalidated()).not.toContain(JSON.stringify([['events', 'head'], { type: 'query' }]));

    cache = cacheWith();
    applyStreamItem(cache.queryClient, resync(['escrows'], 'e2'));
    expect(cache.invalidated().sort()).toEqual(
      [byIdKey('escrows', 'e2'), listKey('escrows'), listKey('escrows', { limit: 25, status: 'closed' })].map((key) => JSON.stringify(key)).sort(),
    );
  });
});
