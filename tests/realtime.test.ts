import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { TandemClient } from '../src/client/trpc.ts';
import type { CrmEvent } from '../src/shared/events.ts';
import { startProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** Collects a subscription's events; `stop()` ends it. */
function collect(client: TandemClient, subscribe: 'onAny' | 'jobs', input: Record<string, unknown> = {}) {
  const events: CrmEvent[] = [];
  const errors: unknown[] = [];
  let started = false;
  const handlers = {
    onStarted: () => (started = true),
    onData: ({ id, data }: { id: string; data: CrmEvent }) => {
      expect(id).toBe(String(data.seq));
      events.push(data);
    },
    onError: (error: unknown) => errors.push(error),
  };
  const subscription = subscribe === 'onAny' ? client.trpc.events.onAny.subscribe(input, handlers as never) : client.trpc.jobs.onChange.subscribe(input, handlers as never);
  return { events, errors, isStarted: () => started, stop: () => subscription.unsubscribe() };
}

async function expectInOrderWithoutDuplicates(events: CrmEvent[]) {
  const seqs = events.map((event) => event.seq);
  expect(new Set(seqs).size).toBe(seqs.length);
  expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
}

describe('over a real server', () => {
  it('delivers a change to another client of the org within a second, and never to another org', async () => {
    const alice = await t.client('alice@acme.test');
    const bob = await t.client('bob@acme.test');
    const carol = await t.client('carol@globex.test');
    const bobs = collect(bob, 'jobs');
    const carols = collect(carol, 'onAny');
    await vi.waitFor(() => expect(bobs.isStarted() && carols.isStarted()).toBe(true), { timeout: 5_000 });
    expect(alice.connection.state).toBe('open');

    const job = await alice.trpc.jobs.create.mutate({ title: 'Live one' });
    await vi.waitFor(() => expect(bobs.events.map((event) => event.recordId)).toContain(job.id), { timeout: 1_000, interval: 5 });

    // Carol sees her own org's change (so her stream works) and nothing of Acme's.
    const globexJob = await carol.trpc.jobs.create.mutate({ title: 'Globex one' });
    await vi.waitFor(() => expect(carols.events.map((event) => event.recordId)).toContain(globexJob.id), { timeout: 2_000 });
    expect(carols.events.every((event) => event.orgId === t.users['carol@globex.test'].orgId)).toBe(true);
    expect(bobs.events.some((event) => event.recordId === globexJob.id)).toBe(false);
    bobs.stop();
    carols.stop();
  });

  it('refuses a WebSocket connection with an invalid token: UNAUTHORIZED, then closed', async () => {
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(String(data)));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: 'forged' } }));
    const code = await new Promise<number>((resolve) => socket.once('close', resolve));
    expect(code).toBeGreaterThan(0);
    expect(messages.map((message) => JSON.parse(message))).toEqual([
      expect.objectContaining({ id: null, error: expect.objectContaining({ data: expect.objectContaining({ code: 'UNAUTHORIZED' }) }) }),
    ]);
  });

  it("answers a client's malformed messages with errors, cuts an oversized one, and keeps serving everyone", async () => {
    const observer = await t.client('alice@acme.test');
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    const replies: { id: unknown; error?: { data?: { code?: string } }; result?: unknown }[] = [];
    socket.on('message', (data) => replies.push(JSON.parse(String(data))));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('bob@acme.test') } }));
    socket.send('this is not json');
    socket.send(JSON.stringify({ id: 2, method: 'query', params: { path: 'jobs.list', input: { limit: 'many' } } }));
    socket.send(JSON.stringify({ id: 3, method: 'mutation', params: { path: 'jobs.nope', input: {} } }));
    socket.send(JSON.stringify({ id: 4, method: 'query', params: { path: 'auth.me' } }));
    await vi.waitFor(() => expect(replies.map((reply) => reply.id)).toEqual(expect.arrayContaining([2, 3, 4])), { timeout: 5_000 });
    const byId = (id: number) => replies.find((reply) => reply.id === id)!;
    expect(byId(2).error?.data?.code).toBe('BAD_REQUEST');
    expect(byId(3).error?.data?.code).toBe('NOT_FOUND');
    expect(byId(4).result).toMatchObject({ data: { email: 'bob@acme.test' } });
    expect(replies.some((reply) => reply.error?.data?.code === 'PARSE_ERROR')).toBe(true);

    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.send('x'.repeat(1024 * 1024 + 1));
    expect(await closed).toBe(1009);
    expect((await observer.trpc.auth.me.query()).email).toBe('alice@acme.test');
    expect(observer.connection.state).toBe('open');
  });

  it('resumes after the socket drops: exactly the missed events, in order, no duplicates', async () => {
    await using proxy = await startProxy(t.server);
    const writer = await t.client('alice@acme.test');
    // Polling so slow that only the WebSocket's resume can deliver the missed events in time.
    const reader = await t.client('bob@acme.test', { url: proxy.url, pollIntervalMs: 60_000 });
    const stream = collect(reader, 'onAny');
    await vi.waitFor(() => expect(stream.isStarted()).toBe(true), { timeout: 5_000 });
    const before = await writer.trpc.jobs.create.mutate({ title: 'Before the drop' });
    await vi.waitFor(() => expect(stream.events.map((event) => event.recordId)).toContain(before.id), { timeout: 2_000 });

    proxy.setMode('offline');
    await vi.waitFor(() => expect(reader.connection.state).not.toBe('open'), { timeout: 5_000 });
    const missed = [];
    const job = await writer.trpc.jobs.create.mutate({ title: 'While away' });
    missed.push(job.id);
    missed.push((await writer.trpc.jobs.update.mutate({ id: job.id, expectedVersion: 1, patch: { status: 'scheduled' } })).id);
    missed.push((await writer.trpc.leads.create.mutate({ name: 'Missed lead' })).id);
    expect(stream.events.length).toBe(1);

    proxy.setMode('pass');
    await vi.waitFor(() => expect(stream.events.length).toBe(4), { timeout: 10_000 });
    expect(stream.events.slice(1).map((event) => [event.recordId, event.type])).toEqual([
      [job.id, 'JOB_CREATED'],
      [job.id, 'JOB_UPDATED'],
      [missed[2], 'LEAD_CREATED'],
    ]);
    // One more live event proves the stream goes on and nothing was replayed twice.
    const after = await writer.trpc.clients.create.mutate({ firstName: 'After', lastName: 'Resume' });
    await vi.waitFor(() => expect(stream.events.at(-1)?.recordId).toBe(after.id), { timeout: 2_000 });
    expect(stream.events.length).toBe(5);
    await expectInOrderWithoutDuplicates(stream.events);
    expect(stream.errors).toEqual([]);
    stream.stop();
  });

  it('falls back to HTTP and polling when the WebSocket is refused, and returns to it when it opens', async () => {
    await using proxy = await startProxy(t.server);
    proxy.setMode('no-websocket');
    const writer = await t.client('alice@acme.test');
    const client = await t.client('bob@acme.test', { url: proxy.url });
    const states: string[] = [];
    client.connection.subscribe(({ state }) => states.push(state));
    // Refused, and nothing has asked the server over HTTP yet: reconnecting, attempts counted.
    await vi.waitFor(() => expect(client.connection.state).toBe('reconnecting'), { timeout: 5_000 });
    expect(client.connection.attempt).toBeGreaterThan(0);

    // Queries and mutations over HTTP batch requests; the server answers: live via polling.
    const created = await client.trpc.jobs.create.mutate({ title: 'Over HTTP' });
    expect(client.connection.state).toBe('fallback-polling');
    expect((await client.trpc.jobs.byId.query({ id: created.id })).title).toBe('Over HTTP');
    expect((await client.trpc.auth.me.query()).email).toBe('bob@acme.test');

    const stream = collect(client, 'jobs');
    await vi.waitFor(() => expect(stream.isStarted()).toBe(true), { timeout: 5_000 });
    const polled = await writer.trpc.jobs.create.mutate({ title: 'Seen by polling' });
    await vi.waitFor(() => expect(stream.events.map((event) => event.recordId)).toContain(polled.id), { timeout: 5_000 });
    expect(proxy.openTunnels()).toBe(0);

    proxy.setMode('pass');
    await vi.waitFor(() => expect(client.connection.state).toBe('open'), { timeout: 5_000 });
    await vi.waitFor(() => expect(proxy.openTunnels()).toBe(1), { timeout: 5_000 });
    const live = await writer.trpc.jobs.update.mutate({ id: polled.id, expectedVersion: 1, patch: { title: 'Seen live' } });
    await vi.waitFor(() => expect(stream.events.at(-1)).toMatchObject({ recordId: live.id, version: 2 }), { timeout: 2_000 });
    expect(stream.events.map((event) => event.recordId).filter((id) => id === polled.id)).toHaveLength(2);
    await expectInOrderWithoutDuplicates(stream.events);
    expect(states).toContain('open');
    stream.stop();
  });

  it('shows offline when nothing reaches the server, and reconnects at once on reconnect()', async () => {
    await using proxy = await startProxy(t.server);
    const writer = await t.client('alice@acme.test');
    // Retries so slow that only reconnect() can bring the socket back within the test.
    const client = await t.client('bob@acme.test', { url: proxy.url, retryDelayMs: () => 60_000 });
    const stream = collect(client, 'jobs');
    await vi.waitFor(() => expect(stream.isStarted()).toBe(true), { timeout: 5_000 });
    proxy.setMode('offline');
    await vi.waitFor(() => expect(client.connection.state).toBe('offline'), { timeout: 5_000 });
    const missed = await writer.trpc.jobs.create.mutate({ title: 'While offline' });
    proxy.setMode('pass');
    client.connection.reconnect();
    await vi.waitFor(() => expect(client.connection.state).toBe('open'), { timeout: 5_000 });
    await vi.waitFor(() => expect(stream.events.map((event) => event.recordId)).toContain(missed.id), { timeout: 5_000 });
    await expectInOrderWithoutDuplicates(stream.events);
    stream.stop();
  });

  it('writes live events straight to the socket as the frames tRPC itself would send, in order, until stopped', async () => {
    const delivered = async (path: 'direct' | 'iterator') => (await t.deps.metrics.eventsDelivered.get()).values.find((value) => value.labels.path === path)?.value ?? 0;
    const directBefore = await delivered('direct');
    // A bare tRPC WebSocket client: the protocol as any tRPC client speaks it.
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    const frames: string[] = [];
    socket.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('bob@acme.test') } }));
    socket.send(JSON.stringify({ id: 'sub-1', jsonrpc: '2.0', method: 'subscription', params: { path: 'jobs.onChange', input: {} } }));
    await vi.waitFor(() => expect(frames.map((frame) => JSON.parse(frame).result?.type)).toContain('started'), { timeout: 5_000 });
    const alice = await t.caller('alice@acme.test');
    const jobs = [];
    for (let i = 0; i < 5; i++) jobs.push(await alice.jobs.create({ title: `Direct ${i}` }));
    await vi.waitFor(() => expect(frames.filter((frame) => frame.includes('"type":"data"'))).toHaveLength(5), { timeout: 2_000 });
    const data = frames.filter((frame) => frame.includes('"type":"data"'));
    for (const [i, frame] of data.entries()) {
      const event = JSON.parse(frame).result.data.data;
      expect(event.recordId).toBe(jobs[i]!.id);
      // Byte for byte what tRPC's own encoder makes of the envelope its adapter builds (type, data, then the tracked id).
      const trackedId = String(event.seq);
      expect(frame).toBe(JSON.stringify({ id: 'sub-1', jsonrpc: '2.0', result: { type: 'data', data: { id: trackedId, data: event }, id: trackedId } }));
    }
    expect((await delivered('direct')) - directBefore).toBe(5);

    socket.send(JSON.stringify({ id: 'sub-1', jsonrpc: '2.0', method: 'subscription.stop' }));
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(t.users['bob@acme.test'].orgId)).toBe(0), { timeout: 2_000 });
    await alice.jobs.create({ title: 'After the stop' });
    await alice.jobs.list({ limit: 1 });
    expect(frames.filter((frame) => frame.includes('"type":"data"'))).toHaveLength(5);
    socket.close();
  });

  it('leaves no listener on the bus when a client unsubscribes or its socket is cut', async () => {
    await using proxy = await startProxy(t.server);
    const orgId = t.users['bob@acme.test'].orgId;
    // Everything the earlier tests subscribed to has ended by now: none of it may linger.
    await vi.waitFor(() => expect(t.deps.bus.listenerCount()).toBe(0), { timeout: 5_000 });
    const baseline = 0;
    const client = await t.client('bob@acme.test', { url: proxy.url, pollIntervalMs: 60_000 });
    const unsubscribed = collect(client, 'jobs');
    const cut = collect(client, 'onAny');
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(orgId)).toBe(baseline + 2), { timeout: 5_000 });
    unsubscribed.stop();
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(orgId)).toBe(baseline + 1), { timeout: 5_000 });
    proxy.setMode('offline');
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(orgId)).toBe(baseline), { timeout: 5_000 });
    cut.stop();
  });
});
