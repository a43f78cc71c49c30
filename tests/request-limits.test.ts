import { connect } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { LogEvent } from '../src/shared/events.ts';
import { modules } from '../src/shared/modules.ts';
import { createRecord, updateRecord } from '../src/server/records/service.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** What one client may make the server hold: the attacks of the security review (issue 18), against the real server. */

/** A log of `count` large events (5,000-character notes, from and to: about 10 KB each). */
async function bigLog(t: TestServer, count: number) {
  const user = t.users['alice@acme.test'];
  const client = await createRecord({ deps: t.deps, user }, modules.clients, { firstName: 'Big', lastName: 'Notes' });
  let version = 1;
  for (let i = 0; i < count; i++) {
    const notes = `${i}:`.padEnd(5_000, i % 2 ? 'a' : 'b');
    version = ((await updateRecord({ deps: t.deps, user }, modules.clients, { id: client.id, expectedVersion: version, patch: { notes } })) as { version: number }).version;
  }
}

/** A signed-in raw socket that never reads what it is sent (its TCP stream is paused) but keeps talking. */
async function nonReadingSocket(t: TestServer) {
  const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
  await new Promise((resolve) => socket.once('open', resolve));
  let started = false;
  socket.on('message', (raw) => {
    if (String(raw).includes('"started"')) started = true;
  });
  socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('bob@acme.test') } }));
  // A subscription answered proves the connection is authenticated before it stops reading.
  socket.send(JSON.stringify({ id: 'sub', method: 'subscription', params: { path: 'events.onAny', input: {} } }));
  await vi.waitFor(() => expect(started).toBe(true), { timeout: 5_000 });
  (socket as unknown as { _socket: { pause(): void } })._socket.pause();
  // As the attacker did: PONGs (and PINGs) sent blindly, so that keep-alive alone would never drop it.
  const chatter = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('PONG'), 100);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed, stop: () => clearInterval(chatter) };
}

describe('request limits', () => {
  it('batches of heavy queries from a client that does not read: memory stays bounded, the connection is closed in the drain time, others are served', async () => {
    // The query budget would refuse most of these: lifted here, so that the outbound bound alone is what holds.
    await using t = await startTestServer({
      config: { SLOW_CONSUMER_DRAIN_MS: 3_000, QUERY_COST_PER_SECOND_PER_CONNECTION: 1e6, QUERY_COST_PER_SECOND_PER_USER: 1e6 },
    });
    await bigLog(t, 1_200);
    const watcher = await t.client('alice@acme.test');
    const seen: LogEvent[] = [];
    watcher.trpc.events.onAny.subscribe({}, { onData: ({ data }) => data.type !== 'RESYNC' && seen.push(data) });
    await vi.waitFor(async () => expect((await watcher.trpc.auth.me.query()).email).toBe('alice@acme.test'), { timeout: 5_000 });
    // The same reads once from a client that reads: what serving this log costs anyway (database caches, heap), before measuring.
    for (let lastEventId = '0', more = true; more; ) ({ lastEventId, more } = await watcher.trpc.events.since.query({ lastEventId, limit: 1000 }));

    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    let bufferedMax = 0;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
      bufferedMax = Math.max(bufferedMax, t.server.maxBufferedBytes());
    }, 10);
    const attacker = await nonReadingSocket(t);
    const attackStarted = Date.now();
    try {
      // Ten frames of 100 `events.since` from the start of a 12 MB log: about 12 GB of answers as it was.
      for (let frame = 0; frame < 10; frame++) {
        const batch = Array.from({ length: 100 }, (_, i) => ({
          id: frame * 100 + i,
          method: 'query',
          params: { path: 'events.since', input: { lastEventId: '0', limit: 1000 } },
        }));
        attacker.socket.send(JSON.stringify(batch));
      }
      // Meanwhile a well-behaved client is answered and sees a change live.
      const job = await watcher.trpc.jobs.create.mutate({ title: 'While under attack' });
      await vi.waitFor(() => expect(seen.some((event) => event.recordId === job.id)).toBe(true), { timeout: 5_000 });
      await attacker.closed;
    } finally {
      attacker.stop();
      clearInterval(sampler);
    }
    const closedAfterMs = Date.now() - attackStarted;
    // Closed for not reading: within the drain time of its buffer filling (plus the time its first answers took).
    expect(closedAfterMs).toBeLessThan(3_000 + 5_000);
    expect((await t.deps.metrics.slowConsumersDropped.get()).values.find((value) => value.labels.action === 'closed')?.value).toBeGreaterThanOrEqual(1);
    // One reply per request in flight past the bound at most (8 × about 1 MB), not gigabytes.
    expect(bufferedMax).toBeLessThan(16 * 1024 * 1024);
    expect(rssMax - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect((await watcher.trpc.auth.me.query()).email).toBe('alice@acme.test');
  }, 120_000);

  it('closes sockets that never authenticate after 5 s with 4001, PINGs or not, and caps them per address', async () => {
    await using t = await startTestServer({ server: { requestLimits: { maxUnauthenticatedPerAddress: 3 } } });
    const open = (path = '?connectionParams=1') => new WebSocket(`${t.server.wsUrl}${path}`);
    const sockets = [open(), open(), open()];
    await Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('open', resolve))));
    const openedAt = Date.now();
    const chatter = setInterval(() => {
      for (const socket of sockets) if (socket.readyState === WebSocket.OPEN) socket.send('PING');
    }, 200);
    try {
      // A fourth from the same address is refused before the handshake.
      const fourth = open();
      fourth.on('error', () => {});
      const refused = await new Promise<number>((resolve) => fourth.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
      expect(refused).toBe(429);
      fourth.terminate();

      const codes = await Promise.all(sockets.map((socket) => new Promise<number>((resolve) => socket.once('close', resolve))));
      expect(codes).toEqual([4001, 4001, 4001]);
      expect(Date.now() - openedAt).toBeGreaterThanOrEqual(4_900);
    } finally {
      clearInterval(chatter);
    }
    // Their places are free again: an authenticated socket connects and stays.
    const client = await t.client('bob@acme.test');
    expect((await client.trpc.auth.me.query()).email).toBe('bob@acme.test');
    await vi.waitFor(() => expect(t.server.connectionCount()).toBe(1), { timeout: 5_000 });
  }, 30_000);

  it('refuses an HTTP batch over the cap whole with TOO_MANY_REQUESTS, and serves one within it', async () => {
    await using t = await startTestServer({ server: { requestLimits: { maxBatchSize: 5 } } });
    const token = await t.tokenFor('bob@acme.test');
    const batch = (n: number) =>
      fetch(`${t.server.trpcUrl}/${Array(n).fill('auth.me').join(',')}?batch=1&input=${encodeURIComponent(JSON.stringify({}))}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    const over = await batch(6);
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({ error: { data: { code: 'TOO_MANY_REQUESTS' } } });
    const within = await batch(5);
    expect(within.status).toBe(200);
    expect(((await within.json()) as unknown[]).length).toBe(5);
  });

  it('spends a query budget weighted by page size, per connection and per user; others are unaffected', async () => {
    await using t = await startTestServer();
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    const replies: { id: number; result?: unknown; error?: { data?: { code?: string; retryAfterMs?: number } } }[] = [];
    socket.on('message', (raw) => replies.push(JSON.parse(String(raw))));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('bob@acme.test') } }));
    // 100 pages of up to 1,000 events cost 11 each: the connection's budget (400 at once) takes about 36 of them.
    socket.send(JSON.stringify(Array.from({ length: 100 }, (_, id) => ({ id, method: 'query', params: { path: 'events.since', input: { lastEventId: '0', limit: 1000 } } }))));
    await vi.waitFor(() => expect(replies).toHaveLength(100), { timeout: 10_000 });
    const refused = replies.filter((reply) => reply.error?.data?.code === 'TOO_MANY_REQUESTS');
    expect(replies.filter((reply) => reply.result).length).toBeGreaterThanOrEqual(30);
    expect(refused.length).toBeGreaterThanOrEqual(55);
    expect(refused.every((reply) => (reply.error?.data?.retryAfterMs ?? 0) > 0)).toBe(true);
    // Small queries of the same connection are refused too until the budget refills; another user is served at once.
    const alice = await t.caller('alice@acme.test');
    expect((await alice.jobs.list({ limit: 200 })).items).toBeInstanceOf(Array);
    socket.close();
  });

  it("refuses a user's next HTTP request while their earlier answers lie unread, and serves them again once they are gone", async () => {
    await using t = await startTestServer({ config: { QUERY_COST_PER_SECOND_PER_CONNECTION: 1e6, QUERY_COST_PER_SECOND_PER_USER: 1e6 } });
    await bigLog(t, 400);
    const token = await t.tokenFor('bob@acme.test');
    const since = (n: number) =>
      `/trpc/${Array(n).fill('events.since').join(',')}?batch=1&input=${encodeURIComponent(JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { lastEventId: '0', limit: 1000 }]))))}`;
    // 20 pages of about 1 MB, asked for on a raw connection that never reads its answer.
    const { port } = new URL(t.server.url);
    const raw = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.pause();
    raw.write(`GET ${since(20)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    const ask = () => fetch(`${t.server.url}${since(1)}`, { headers: { authorization: `Bearer ${token}` } });
    await vi.waitFor(
      async () => {
        const refused = await ask();
        expect(refused.status).toBe(429);
        expect(JSON.stringify(await refused.json())).toContain('unread HTTP answers per user');
      },
      { timeout: 30_000 },
    );
    // Another user is served meanwhile.
    const alice = await fetch(`${t.server.url}${since(1)}`, { headers: { authorization: `Bearer ${await t.tokenFor('alice@acme.test')}` } });
    expect(alice.status).toBe(200);
    raw.destroy();
    await vi.waitFor(async () => expect((await ask()).status).toBe(200), { timeout: 5_000 });
  }, 60_000);
});
