import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it, vi } from 'vitest';
import { applyStreamItem, deletedKey, type CachedRecord, type ListData } from '../../src/client/web/realtime/patch.ts';
import type { StreamItem } from '../../src/shared/events.ts';
import { startTestServer } from '../helpers/server.ts';

const byIdKey = (id: string) => [['escrows', 'byId'], { input: { id }, type: 'query' }];
const listKey = (input: Record<string, unknown>) => [['escrows', 'list'], { input, type: 'infinite' }];

/** The real event stream of the server, fed into a cache the way `useRealtime` does. */
describe('the cache kept by real events', () => {
  it('follows updates, creates and deletes made by another user, with the server’s own event shapes', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const bob = await server.client('bob@acme.test');
    const escrow = (await alice.escrows.create({ propertyAddress: '1 Stream St', purchasePriceCents: 100, status: 'opened' })) as CachedRecord;

    const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity } } });
    const invalidate = vi.spyOn(queryClient, 'invalidateQueries');
    queryClient.setQueryData(byIdKey(escrow.id), await bob.trpc.escrows.byId.query({ id: escrow.id }));
    const page = await bob.trpc.escrows.list.query({ limit: 25 });
    queryClient.setQueryData(listKey({ limit: 25 }), { pages: [page], pageParams: [undefined] });
    queryClient.setQueryData(listKey({ limit: 25, status: 'opened' }), { pages: [page], pageParams: [undefined] });

    const seen: StreamItem[] = [];
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const subscription = bob.trpc.events.onAny.subscribe(
      { modules: ['escrows'] },
      {
        onStarted: () => started(),
        onData: ({ data }) => {
          applyStreamItem(queryClient, data);
          seen.push(data);
        },
      },
    );
    await ready;

    await alice.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { purchasePriceCents: 200, closingDate: '2027-03-01T17:00:00.000Z' } });
    const other = await alice.escrows.create({ propertyAddress: '2 Stream St', status: 'opened' });
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    expect(queryClient.getQueryData(byIdKey(escrow.id))).toMatchObject({ version: 2, purchasePriceCents: 200, closingDate: '2027-03-01T17:00:00.000Z' });
    const list = () => queryClient.getQueryData<ListData>(listKey({ limit: 25 }))!.pages[0]!.items;
    expect(list().map((item) => item.id)).toEqual([other.id, escrow.id]);
    expect(list()[1]).toMatchObject({ version: 2, purchasePriceCents: 200 });
    expect(list()[0]).toEqual(await alice.escrows.byId({ id: other.id }));
    expect(invalidate).not.toHaveBeenCalled();
    // What the patched cache holds is what a refetch would give.
    expect(queryClient.getQueryData(byIdKey(escrow.id))).toEqual(await alice.escrows.byId({ id: escrow.id }));

    // A status change may move the record out of a filtered list: that list is refetched.
    await alice.escrows.update({ id: escrow.id, expectedVersion: 2, patch: { status: 'pending' } });
    await vi.waitFor(() => expect(seen).toHaveLength(3));
    expect(invalidate).toHaveBeenCalledTimes(1);
    expect(invalidate.mock.calls[0]![0]!.queryKey).toEqual(listKey({ limit: 25, status: 'opened' }));

    await alice.escrows.delete({ id: escrow.id });
    await vi.waitFor(() => expect(seen).toHaveLength(4));
    expect(queryClient.getQueryData(deletedKey('escrows', escrow.id))).toMatchObject({ userId: server.users['alice@acme.test'].id });
    expect(list().map((item) => item.id)).toEqual([other.id]);
    subscription.unsubscribe();
  });
});
