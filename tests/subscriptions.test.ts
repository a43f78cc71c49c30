import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CrmEvent } from '../src/shared/events.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** Reads `count` items from a subscription's async iterable, then stops it. */
async function take(iterable: AsyncIterable<unknown>, count: number): Promise<CrmEvent[]> {
  const out: CrmEvent[] = [];
  if (count === 0) return out;
  for await (const item of iterable) {
    const [id, event] = item as [string, CrmEvent];
    expect(id).toBe(String(event.seq));
    out.push(event);
    if (out.length === count) break;
  }
  return out;
}

async function headSeq(): Promise<number> {
  return Number((await (await t.caller('alice@acme.test')).events.head()).lastEventId);
}

describe('subscriptions', () => {
  it('replays the log after lastEventId, then continues live, in order, with no gap and no duplicate', async () => {
    const alice = await t.caller('alice@acme.test');
    const start = await headSeq();
    const first = await alice.jobs.create({ title: 'One' });
    await alice.jobs.update({ id: first.id, expectedVersion: 1, patch: { status: 'scheduled' } });
    const stream = await alice.events.onAny({ lastEventId: String(start) });
    // Committed after the subscription started listening but possibly while it replays.
    const racing = alice.leads.create({ name: 'Racing lead' });
    const events = take(stream, 4);
    await racing;
    await alice.clients.create({ firstName: 'Live', lastName: 'Client' });
    const received = await events;
    expect(received.map((event) => event.type)).toEqual(['JOB_CREATED', 'JOB_UPDATED', 'LEAD_CREATED', 'CLIENT_CREATED']);
    const seqs = received.map((event) => event.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(4);
    expect(received[1]).toMatchObject({
      module: 'jobs',
      action: 'updated',
      recordId: first.id,
      version: 2,
      userId: t.users['alice@acme.test'].id,
      orgId: t.users['alice@acme.test'].orgId,
      data: { status: { from: 'new', to: 'scheduled' } },
    });
    expect(new Date(received[1]!.timestamp).toISOString()).toBe(received[1]!.timestamp);
  });

  it("delivers only the caller's org, module and record", async () => {
    const alice = await t.caller('alice@acme.test');
    const carol = await t.caller('carol@globex.test');
    const target = await alice.jobs.create({ title: 'Watched' });
    const onRecord = await alice.jobs.onChange({ id: target.id });
    const onJobs = await alice.jobs.onChange({});
    const carolsAll = await carol.events.onAny({});
    const recordEvents = take(onRecord, 1);
    const jobEvents = take(onJobs, 2);
    const carolsEvents = take(carolsAll, 1);
    await carol.jobs.create({ title: 'Globex job' });
    await alice.leads.create({ name: 'Not a job' });
    await alice.jobs.create({ title: 'Other job' });
    await alice.jobs.update({ id: target.id, expectedVersion: 1, patch: { title: 'Watched!' } });
    expect((await recordEvents).map((event) => [event.recordId, event.type])).toEqual([[target.id, 'JOB_UPDATED']]);
    expect((await jobEvents).map((event) => event.type)).toEqual(['JOB_CREATED', 'JOB_UPDATED']);
    const carols = await carolsEvents;
    expect(carols[0]!.orgId).toBe(t.users['carol@globex.test'].orgId);
  });

  it('filters onAny by modules and serves the same events over events.since', async () => {
    const alice = await t.caller('alice@acme.test');
    const start = String(await headSeq());
    await alice.jobs.create({ title: 'J' });
    await alice.listings.create({ address: '9 Elm St' });
    await alice.escrows.create({ propertyAddress: '9 Elm St' });
    const stream = await alice.events.onAny({ modules: ['listings', 'escrows'], lastEventId: start });
    const streamed = await take(stream, 2);
    const since = await alice.events.since({ lastEventId: start, modules: ['listings', 'escrows'] });
    expect(since.events).toEqual(streamed);
    expect(since.lastEventId).toBe(String(streamed[1]!.seq));
    const page = await alice.events.since({ lastEventId: start, limit: 1 });
    expect(page.events.map((event) => event.type)).toEqual(['JOB_CREATED']);
    const empty = await alice.events.since({ lastEventId: since.lastEventId, modules: ['appointments'] });
    expect(empty).toEqual({ events: [], lastEventId: since.lastEventId, more: false, resync: null });
    const carol = await t.caller('carol@globex.test');
    expect((await carol.events.since({ lastEventId: '0' })).events.every((event) => event.orgId === t.users['carol@globex.test'].orgId)).toBe(true);
  });

  it('replays from the start of the log with lastEventId "0", across pages', async () => {
    const carol = await t.caller('carol@globex.test');
    for (let i = 0; i < 3; i++) await carol.leads.create({ name: `Lead ${i}` });
    const total = (await carol.events.since({ lastEventId: '0', limit: 1000 })).events.length;
    const all = await take(await carol.events.onAny({ lastEventId: '0' }), total);
    expect(all.map((event) => event.seq)).toEqual((await carol.events.since({ lastEventId: '0', limit: 1000 })).events.map((event) => event.seq));
  });

  it('leaves no listener on the bus when a subscription ends, by abort or by return', async () => {
    const orgId = t.users['alice@acme.test'].orgId;
    expect(t.deps.bus.listenerCount()).toBe(0);

    const controller = new AbortController();
    const aborting = await t.caller('alice@acme.test', { signal: controller.signal });
    const aborted = (await aborting.jobs.onChange({}))[Symbol.asyncIterator]();
    const firstOfAborted = aborted.next();
    const returned = await (await t.caller('alice@acme.test')).events.onAny({});
    const firstOfReturned = take(returned, 1);
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(orgId)).toBe(2));
    await (await t.caller('alice@acme.test')).jobs.create({ title: 'Wake both' });
    expect((await firstOfAborted).done).toBe(false);
    await firstOfReturned; // take() ends this one by leaving its for-await loop
    expect(t.deps.bus.listenerCount(orgId)).toBe(1);

    const pending = aborted.next();
    controller.abort();
    expect((await pending).done).toBe(true);
    expect(t.deps.bus.listenerCount(orgId)).toBe(0);
    expect(t.deps.bus.listenerCount()).toBe(0);
  });

  it('catches a consumer that fell behind the bus up from the log, without loss or duplicates', async () => {
    const { InProcessBus } = await import('../src/server/bus/memory.ts');
    const { streamEvents } = await import('../src/server/events/stream.ts');
    const { createRecord } = await import('../src/server/records/service.ts');
    const { modules } = await import('../src/shared/modules.ts');
    const bus = new InProcessBus({ maxBuffered: 3 });
    const deps = { ...t.deps, bus };
    const user = t.users['carol@globex.test'];
    const controller = new AbortController();
    const stream = streamEvents({ db: t.deps.db, bus, orgId: user.orgId, filter: { modules: ['leads'] }, signal: controller.signal });
    const first = stream.next();
    await vi.waitFor(() => expect(bus.listenerCount(user.orgId)).toBe(1));
    const created = [];
    for (let i = 0; i < 10; i++) created.push((await createRecord({ deps, user }, modules.leads, { name: `Flood ${i}` })).id);
    expect(bus.listenerCount(user.orgId)).toBe(0); // detached: its buffer of 3 overflowed
    const received = [((await first).value as [string, CrmEvent])[1]];
    while (received.length < 10) received.push(((await stream.next()).value as [string, CrmEvent])[1]);
    expect(received.map((event) => event.recordId)).toEqual(created);
    expect(bus.listenerCount(user.orgId)).toBe(1); // listening live again
    const pending = stream.next();
    const live = await createRecord({ deps, user }, modules.leads, { name: 'Live again' });
    expect(((await pending).value as [string, CrmEvent])[1].recordId).toBe(live.id);
    controller.abort();
    await stream.return(undefined);
    expect(bus.listenerCount()).toBe(0);
  });

  it('rejects a malformed lastEventId', async () => {
    const alice = await t.caller('alice@acme.test');
    await expect(alice.events.onAny({ lastEventId: 'abc' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(alice.events.since({ lastEventId: '-1' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('requires a valid, unexpired token for every procedure but login', async () => {
    const { createContextInner } = await import('../src/server/context.ts');
    const { createCallerFactory } = await import('../src/server/trpc.ts');
    const { appRouter } = await import('../src/server/routers/_app.ts');
    const anonymous = createCallerFactory(appRouter)(await createContextInner(t.deps, null));
    await expect(anonymous.jobs.list({})).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(anonymous.events.onAny({})).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const forged = createCallerFactory(appRouter)(await createContextInner(t.deps, 'not.a.token'));
    await expect(forged.auth.me()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const ctx = await createContextInner(t.deps, await t.tokenFor('alice@acme.test'));
    const expired = createCallerFactory(appRouter)({ ...ctx, session: { ...ctx.session!, expiresAt: Date.now() - 1 } });
    await expect(expired.auth.me()).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'The token has expired' });
  });
});
