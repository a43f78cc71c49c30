import type { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CrmEvent } from '../src/shared/events.ts';
import { commitChange } from '../src/server/events/commit.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

describe('concurrent writers', () => {
  it('let exactly one of two people racing to change the same field from one version win; the other gets CONFLICT', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const jobs = await Promise.all(Array.from({ length: 4 }, (_, i) => alice.jobs.create({ title: `Contended ${i}` })));
    await Promise.all(
      jobs.map(async (job) => {
        const results = await Promise.allSettled([
          alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { title: 'Alice was here' } }),
          bob.jobs.update({ id: job.id, expectedVersion: 1, patch: { title: 'Bob was here' } }),
        ]);
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        const loser = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
        expect((loser.reason as TRPCError).code).toBe('CONFLICT');
        const events = await t.deps.db.event.findMany({ where: { recordId: job.id }, orderBy: { seq: 'asc' } });
        expect(events.map((event) => event.version)).toEqual([1, 2]);
      }),
    );
  });

  it('publish one org’s events in seq order while many writers race, so a live subscriber sees every one once', async () => {
    const alice = await t.caller('alice@acme.test');
    const head = (await alice.events.head()).lastEventId;
    const stream = await alice.events.onAny({});
    const iterator = stream[Symbol.asyncIterator]();
    const first = iterator.next();
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(t.users['alice@acme.test'].orgId)).toBe(1));
    const writers = 12;
    await Promise.all(Array.from({ length: writers }, (_, i) => alice.leads.create({ name: `Racer ${i}` })));
    const received: CrmEvent[] = [];
    let next = await first;
    for (;;) {
      const [, event] = next.value as [string, CrmEvent];
      received.push(event);
      if (received.length === writers) break;
      next = await iterator.next();
    }
    await iterator.return?.();
    const logged = (await alice.events.since({ lastEventId: head })).events;
    expect(received.map((event) => event.seq)).toEqual(logged.map((event) => event.seq));
  });

  it('write no record, no event and publish nothing when the transaction fails after writing', async () => {
    const user = t.users['alice@acme.test'];
    const before = { jobs: await t.deps.db.job.count(), events: await t.deps.db.event.count() };
    const published: CrmEvent[] = [];
    const bus = { ...t.deps.bus, publish: (event: CrmEvent) => published.push(event) };
    await expect(
      commitChange({ db: t.deps.db, bus }, user.orgId, async (tx) => {
        await tx.job.create({ data: { orgId: user.orgId, title: 'Doomed', createdById: user.id, updatedById: user.id } });
        throw new Error('failed after the write');
      }),
    ).rejects.toThrow('failed after the write');
    expect({ jobs: await t.deps.db.job.count(), events: await t.deps.db.event.count() }).toEqual(before);
    expect(published).toEqual([]);
    // The org's queue is not stuck behind the failure.
    const alice = await t.caller('alice@acme.test');
    expect((await alice.jobs.create({ title: 'Afterwards' })).version).toBe(1);
  });
});
