import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MODULE_NAMES } from '../src/shared/modules.ts';
import { pruneExpired } from '../src/server/events/retention.ts';
import type { StreamItem } from '../src/shared/events.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** Prunes as if `ms` had passed: everything committed so far is older than a 1 s retention (the records' history's too). */
function pruneAllSoFar(ms = 60_000) {
  return pruneExpired(t.deps.db, { eventRetentionMs: 1_000, idempotencyTtlMs: 1_000, historyRetentionMs: 1_000, now: new Date(Date.now() + ms) });
}

async function firstItems(iterable: AsyncIterable<unknown>, count: number): Promise<StreamItem[]> {
  const out: StreamItem[] = [];
  for await (const item of iterable) {
    const [id, value] = item as [string, StreamItem];
    expect(id).toBe(value.type === 'RESYNC' ? value.lastEventId : String(value.seq));
    out.push(value);
    if (out.length === count) break;
  }
  return out;
}

async function nextItem(iterator: AsyncIterator<unknown>): Promise<StreamItem> {
  const { value, done } = await iterator.next();
  expect(done).toBe(false);
  const [id, item] = value as [string, StreamItem];
  expect(id).toBe(item.type === 'RESYNC' ? item.lastEventId : String(item.seq));
  return item;
}

describe('retention and resync', () => {
  it('a resume from before the retention gets one RESYNC (not a partial replay), then live events', async () => {
    const alice = await t.caller('alice@acme.test');
    const before = await alice.jobs.create({ title: 'Old news' });
    const oldId = String((await t.deps.db.event.findFirst({ where: { recordId: before.id } }))!.seq - 1);
    await alice.jobs.update({ id: before.id, expectedVersion: 1, patch: { status: 'done' } });
    const pruned = await pruneAllSoFar();
    expect(pruned.events).toBeGreaterThan(0);
    const head = (await alice.events.head()).lastEventId;

    const stream = (await alice.jobs.onChange({ lastEventId: oldId }))[Symbol.asyncIterator]();
    // The RESYNC first: the stream listens before it reads the log's head, so a change made
    // before that read would be inside the head the RESYNC names, not a live event after it.
    const resync = await nextItem(stream);
    expect(resync).toEqual({ type: 'RESYNC', reason: 'retention_exceeded', modules: ['jobs'], recordId: null, lastEventId: head });
    const fresh = await alice.jobs.create({ title: 'After the resync' });
    expect(await nextItem(stream)).toMatchObject({ type: 'JOB_CREATED', recordId: fresh.id });
    await stream.return?.();

    const polled = await alice.events.since({ lastEventId: oldId });
    expect(polled).toMatchObject({ events: [], lastEventId: expect.any(String), resync: { type: 'RESYNC', reason: 'retention_exceeded' } });
    const fromStart = await alice.events.since({ lastEventId: '0' });
    expect(fromStart.resync?.reason).toBe('retention_exceeded');
    // From the head onwards the log is exact again.
    expect((await alice.events.since({ lastEventId: head })).resync).toBeNull();
  });

  it('an unknown (future) event id gets RESYNC unknown_event_id', async () => {
    const carol = await t.caller('carol@globex.test');
    const head = Number((await carol.events.head()).lastEventId);
    const stream = await carol.events.onAny({ lastEventId: String(head + 1_000_000) });
    const [signal] = await firstItems(stream, 1);
    // onAny without modules reads the six record modules.
    expect(signal).toMatchObject({ type: 'RESYNC', reason: 'unknown_event_id', modules: [...MODULE_NAMES], lastEventId: String(head) });
    expect((await carol.events.since({ lastEventId: String(head + 5) })).resync?.reason).toBe('unknown_event_id');
  });

  it('only the pruned org has to resync', async () => {
    const alice = await t.caller('alice@acme.test');
    const carol = await t.caller('carol@globex.test');
    const carolsHead = (await carol.events.head()).lastEventId;
    await pruneAllSoFar();
    // Acme writes more after the prune; Globex's position is still exact.
    await alice.leads.create({ name: 'Acme only' });
    expect((await carol.events.since({ lastEventId: carolsHead })).resync).toBeNull();
  });

  it('forgets idempotency keys after their time to live', async () => {
    const alice = await t.caller('alice@acme.test');
    await alice.leads.create({ name: 'Keyed lead', idempotencyKey: 'expiring-key-0001' });
    expect((await pruneAllSoFar()).idempotencyKeys).toBeGreaterThan(0);
    await alice.leads.create({ name: 'Keyed lead', idempotencyKey: 'expiring-key-0001' });
    expect(await t.deps.db.lead.count({ where: { name: 'Keyed lead' } })).toBe(2);
  });

  it('a real client receives the RESYNC signal as subscription data', async () => {
    const client = await t.client('bob@acme.test');
    const items: StreamItem[] = [];
    const subscription = client.trpc.events.onAny.subscribe({ lastEventId: '1' }, { onData: ({ data }) => items.push(data) });
    await vi.waitFor(() => expect(items[0]).toMatchObject({ type: 'RESYNC', reason: 'retention_exceeded' }), { timeout: 5_000 });
    subscription.unsubscribe();
  });
});
