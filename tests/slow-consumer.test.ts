import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { modules } from '../src/shared/modules.ts';
import type { LogEvent } from '../src/shared/events.ts';
import { updateRecord, createRecord } from '../src/server/records/service.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const BOUND = 64 * 1024;

/** A real socket that subscribes, then stops reading from TCP: the server's writes back up. */
async function pausedSubscriber(t: TestServer) {
  const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
  const data: LogEvent[] = [];
  const resyncs: unknown[] = [];
  let started = false;
  socket.on('message', (raw) => {
    const text = String(raw);
    if (text === 'PING') return socket.send('PONG');
    const message = JSON.parse(text) as { result?: { type: string; data?: { data: LogEvent & { type: string } } } };
    if (message.result?.type === 'started') started = true;
    const item = message.result?.data?.data;
    if ((item?.type as string) === 'RESYNC') resyncs.push(item);
    else if (item) data.push(item);
  });
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('bob@acme.test') } }));
  const head = (await (await t.caller('bob@acme.test')).events.head()).lastEventId;
  socket.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'events.onAny', input: { lastEventId: head } } }));
  await vi.waitFor(() => expect(started).toBe(true), { timeout: 5_000 });
  const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  tcp.pause();
  return { socket, data, resyncs, head, resume: () => tcp.resume() };
}

async function bigWrites(t: TestServer, until: () => boolean | Promise<boolean>, max = 4_000) {
  const user = t.users['alice@acme.test'];
  const deps = t.deps;
  const client = await createRecord({ deps, user }, modules.clients, { firstName: 'Big', lastName: 'Notes' });
  let version = 1;
  let maxBuffered = 0;
  for (let i = 0; i < max && !(i % 20 === 0 && (await until())); i++) {
    const notes = `${i}:`.padEnd(5_000, i % 2 ? 'a' : 'b');
    version = ((await updateRecord({ deps, user }, modules.clients, { id: client.id, expectedVersion: version, patch: { notes } })) as { version: number }).version;
    maxBuffered = Math.max(maxBuffered, t.server.maxBufferedBytes());
  }
  return { maxBuffered };
}

async function readLog(t: TestServer, after: string): Promise<LogEvent[]> {
  const bob = await t.caller('bob@acme.test');
  const events: LogEvent[] = [];
  for (let lastEventId = after; ; ) {
    const page = await bob.events.since({ lastEventId, limit: 1000 });
    events.push(...page.events);
    if (!page.more) return events;
    lastEventId = page.lastEventId;
  }
}

function pausedCount(t: TestServer, action: string) {
  return t.deps.metrics.slowConsumersDropped.get().then((metric) => metric.values.find((value) => value.labels.action === action)?.value ?? 0);
}

describe.each([true, false])('slow consumers (direct delivery %s)', (WS_DIRECT_DELIVERY) => {
  it("a reader that stops reading does not grow the server's memory, does not delay others, and catches up from the log", async () => {
    await using t = await startTestServer({ config: { SLOW_CONSUMER_BUFFER_BYTES: BOUND, SLOW_CONSUMER_DRAIN_MS: 120_000, WS_DIRECT_DELIVERY } });
    const slow = await pausedSubscriber(t);
    const fast = await t.client('alice@acme.test');
    const fastEvents: LogEvent[] = [];
    let fastStarted = false;
    fast.trpc.events.onAny.subscribe({}, { onStarted: () => (fastStarted = true), onData: ({ data }) => data.type !== 'RESYNC' && fastEvents.push(data) });
    await vi.waitFor(() => expect(fastStarted).toBe(true), { timeout: 5_000 });

    const { maxBuffered } = await bigWrites(t, async () => (await pausedCount(t, 'paused')) > 0);
    // Keep writing a while after the slow connection was parked, to show it stays parked and bounded.
    const after = await bigWrites(t, () => false, 200);
    expect(await pausedCount(t, 'paused')).toBeGreaterThanOrEqual(1);
    expect(Math.max(maxBuffered, after.maxBuffered, t.server.maxBufferedBytes())).toBeLessThan(BOUND + 32 * 1024);

    const log = await readLog(t, slow.head);
    // The fast reader got everything, in order, while the slow one was stuck.
    await vi.waitFor(() => expect(fastEvents.length).toBe(log.length), { timeout: 20_000 });
    expect(fastEvents.map((event) => event.seq)).toEqual(log.map((event) => event.seq));

    slow.resume();
    await vi.waitFor(() => expect(slow.data.length).toBe(log.length), { timeout: 30_000 });
    expect(slow.data.map((event) => event.seq)).toEqual(log.map((event) => event.seq));
    expect(slow.resyncs).toEqual([]);
    slow.socket.close();
  }, 120_000);

  it('a connection that does not drain in time is closed with a reason', async () => {
    await using t = await startTestServer({ config: { SLOW_CONSUMER_BUFFER_BYTES: BOUND, SLOW_CONSUMER_DRAIN_MS: 300, WS_DIRECT_DELIVERY } });
    const slow = await pausedSubscriber(t);
    await bigWrites(t, async () => (await pausedCount(t, 'closed')) > 0);
    await vi.waitFor(async () => expect(await pausedCount(t, 'closed')).toBe(1), { timeout: 10_000 });
    // Counted when the close is decided; the socket and its subscriptions go when the close completes.
    await vi.waitFor(() => expect([t.server.connectionCount(), t.deps.bus.listenerCount()]).toEqual([0, 0]), { timeout: 5_000, interval: 20 });
    slow.socket.terminate();
  }, 120_000);
});
