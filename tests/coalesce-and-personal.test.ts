import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CrmEvent, PersonalEvent, StreamItem } from '../src/shared/events.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

describe('coalescing', () => {
  it('delivers a burst of updates to one record as one merged event per window, in order', async () => {
    const writer = await t.caller('alice@acme.test');
    const reader = await t.client('bob@acme.test');
    const job = await writer.jobs.create({ title: 'Burst', estimatedHours: 1 });
    const coalesced: StreamItem[] = [];
    const every: StreamItem[] = [];
    let started = 0;
    const a = reader.trpc.jobs.onChange.subscribe({ id: job.id, coalesceMs: 300 }, { onStarted: () => started++, onData: ({ data }) => coalesced.push(data) });
    const b = reader.trpc.jobs.onChange.subscribe({ id: job.id }, { onStarted: () => started++, onData: ({ data }) => every.push(data) });
    await vi.waitFor(() => expect(started).toBe(2), { timeout: 5_000 });

    let current = job;
    for (const hours of [2, 3, 4, 5]) current = await writer.jobs.update({ id: job.id, expectedVersion: current.version, patch: { estimatedHours: hours } });
    current = await writer.jobs.update({ id: job.id, expectedVersion: current.version, patch: { title: 'Burst done' } });
    await vi.waitFor(() => expect(every).toHaveLength(5), { timeout: 5_000 });
    await vi.waitFor(() => expect(coalesced.length).toBeGreaterThan(0), { timeout: 5_000 });
    const merged = coalesced as Extract<CrmEvent, { module: 'jobs'; action: 'updated' }>[];
    // However the burst fell into windows: fewer events, the last one at the last version, versions increasing.
    expect(merged.length).toBeLessThan(every.length);
    const last = merged.at(-1)!;
    expect(last.version).toBe(current.version);
    expect(merged.map((event) => event.version)).toEqual([...merged.map((event) => event.version)].sort((x, y) => x - y));
    expect(merged[0]!.data.estimatedHours?.from).toBe(1);
    expect(merged.find((event) => event.data.title)?.data.title).toEqual({ from: 'Burst', to: 'Burst done' });
    expect(
      merged
        .map((event) => event.data.estimatedHours?.to)
        .filter((hours) => hours !== undefined)
        .at(-1),
    ).toBe(5);

    // A delete is not merged: pending updates go first, then the delete.
    const before = coalesced.length;
    await writer.jobs.update({ id: job.id, expectedVersion: current.version, patch: { notes: 'last words' } });
    await writer.jobs.delete({ id: job.id });
    await vi.waitFor(() => expect(coalesced.length).toBe(before + 2), { timeout: 5_000 });
    expect(coalesced.slice(before).map((event) => (event.type === 'RESYNC' ? 'RESYNC' : event.action))).toEqual(['updated', 'deleted']);
    a.unsubscribe();
    b.unsubscribe();
  });
});

describe('coalesceUpdates', () => {
  it('merges each window into one event with the first from, the last to and the last version', async () => {
    const { tracked } = await import('@trpc/server');
    const { coalesceUpdates } = await import('../src/server/events/coalesce.ts');
    const update = (seq: number, version: number, data: Record<string, { from: unknown; to: unknown }>) =>
      ({ seq, type: 'JOB_UPDATED', module: 'jobs', action: 'updated', recordId: 'r1', version, data, userId: 'u', orgId: 'o', timestamp: '' }) as unknown as StreamItem;
    const queue: StreamItem[][] = [
      [update(1, 2, { title: { from: 'a', to: 'b' } }), update(2, 3, { title: { from: 'b', to: 'c' }, notes: { from: null, to: 'n' } })],
      [update(3, 4, { title: { from: 'c', to: 'd' } })],
    ];
    async function* source() {
      for (const batch of queue) {
        for (const item of batch) yield tracked(String((item as CrmEvent).seq), item);
        await new Promise((resolve) => setTimeout(resolve, 150)); // longer than the window: the next batch is a new window
      }
    }
    const out: [string, StreamItem][] = [];
    for await (const item of coalesceUpdates(source(), 50)) out.push(item as unknown as [string, StreamItem]);
    expect(out.map(([id, item]) => [id, (item as CrmEvent).version, (item as CrmEvent).data])).toEqual([
      ['2', 3, { title: { from: 'a', to: 'c' }, notes: { from: null, to: 'n' } }],
      ['3', 4, { title: { from: 'c', to: 'd' } }],
    ]);
  });
});

describe('personal channel', () => {
  it('tells a user, and only them, about jobs assigned to them', async () => {
    const alice = await t.caller('alice@acme.test');
    const bobClient = await t.client('bob@acme.test');
    const aliceClient = await t.client('alice@acme.test');
    const bobs: PersonalEvent[] = [];
    const alices: PersonalEvent[] = [];
    let started = 0;
    bobClient.trpc.me.onEvent.subscribe(undefined, { onStarted: () => started++, onData: ({ data }) => bobs.push(data) });
    aliceClient.trpc.me.onEvent.subscribe(undefined, { onStarted: () => started++, onData: ({ data }) => alices.push(data) });
    await vi.waitFor(() => expect(started).toBe(2), { timeout: 5_000 });
    const bob = t.users['bob@acme.test'];
    const created = await alice.jobs.create({ title: 'For Bob', assigneeId: bob.id });
    const other = await alice.jobs.create({ title: 'Unassigned' });
    await alice.jobs.update({ id: other.id, expectedVersion: 1, patch: { assigneeId: bob.id } });
    await vi.waitFor(() => expect(bobs).toHaveLength(2), { timeout: 5_000 });
    expect(bobs).toMatchObject([
      { type: 'JOB_ASSIGNED', jobId: created.id, title: 'For Bob', assigneeId: bob.id, assignedById: t.users['alice@acme.test'].id },
      { type: 'JOB_ASSIGNED', jobId: other.id, title: 'Unassigned', assigneeId: bob.id },
    ]);
    expect(alices).toEqual([]);
  });
});
