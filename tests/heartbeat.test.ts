import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { StreamItem } from '../src/shared/events.ts';
import { startProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ server: { keepAlive: { pingMs: 150, pongWaitMs: 300 } } });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

describe('heartbeats', () => {
  it('the server drops a connection that stops answering, and its subscriptions with it', async () => {
    const orgId = t.users['carol@globex.test'].orgId;
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    const pings: string[] = [];
    socket.on('message', (data) => String(data) === 'PING' && pings.push('PING'));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('carol@globex.test') } }));
    socket.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'events.onAny', input: {} } }));
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(orgId)).toBe(1), { timeout: 5_000 });
    // Never answer the server's PING: it terminates the socket after its pong wait.
    const code = await new Promise<number>((resolve) => socket.once('close', resolve));
    expect(pings.length).toBeGreaterThan(0);
    expect(code).toBe(1006);
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(orgId)).toBe(0), { timeout: 5_000 });
  });

  it('the server keeps a connection that answers its pings, however long it is idle', async () => {
    const orgId = t.users['carol@globex.test'].orgId;
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    let pings = 0;
    socket.on('message', (data) => {
      if (String(data) !== 'PING') return;
      pings += 1;
      socket.send('PONG');
    });
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('carol@globex.test') } }));
    socket.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'events.onAny', input: {} } }));
    // Each ping answered in time: well past several pong waits, the connection and its subscription stay.
    await vi.waitFor(() => expect(pings).toBeGreaterThanOrEqual(6), { timeout: 10_000 });
    expect(socket.readyState).toBe(WebSocket.OPEN);
    expect(t.deps.bus.listenerCount(orgId)).toBe(1);
    socket.close();
    await vi.waitFor(() => expect(t.deps.bus.listenerCount(orgId)).toBe(0), { timeout: 5_000 });
  });

  it('spreads the pings of connections heard from at the same moment over a quarter of the ping interval', async () => {
    // Its own server: a sweep every 50 ms (a quarter of the pong wait), pings spread over 200 ms.
    await using spread = await startTestServer({ server: { keepAlive: { pingMs: 800, pongWaitMs: 200 } } });
    const token = await spread.tokenFor('carol@globex.test');
    const sockets = await Promise.all(
      // Under the per-user connection limit (20).
      Array.from({ length: 16 }, async () => {
        const socket = new WebSocket(`${spread.server.wsUrl}?connectionParams=1`);
        await new Promise((resolve) => socket.once('open', resolve));
        return socket;
      }),
    );
    const firstPingAt = new Map<WebSocket, number>();
    for (const socket of sockets) {
      socket.on('message', (data) => {
        if (String(data) !== 'PING') return;
        if (!firstPingAt.has(socket)) firstPingAt.set(socket, performance.now());
        socket.send('PONG');
      });
    }
    // Every socket heard from within a few ms: without the spread they would all be pinged in one or two sweeps.
    for (const socket of sockets) socket.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
    await vi.waitFor(() => expect(firstPingAt.size).toBe(sockets.length), { timeout: 5_000 });
    // At least two sweeps apart (100 ms); together they would be at most one apart (50 ms).
    const times = [...firstPingAt.values()];
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(75);
    for (const socket of sockets) socket.close();
  });

  it('the client notices a dead network path within its pong timeout, reconnects and resumes', async () => {
    await using proxy = await startProxy(t.server);
    const writer = await t.client('alice@acme.test');
    const reader = await t.client('bob@acme.test', { url: proxy.url, keepAlive: { intervalMs: 200, pongTimeoutMs: 400 }, pollIntervalMs: 60_000 });
    const items: StreamItem[] = [];
    let started = false;
    reader.trpc.jobs.onChange.subscribe({}, { onStarted: () => (started = true), onData: ({ data }) => items.push(data) });
    await vi.waitFor(() => expect(started).toBe(true), { timeout: 5_000 });
    expect(proxy.openTunnels()).toBe(1);

    proxy.stallTunnels(); // the socket stays open but nothing moves: only heartbeats can tell
    const stalledAt = Date.now();
    const job = await writer.trpc.jobs.create.mutate({ title: 'During the stall' });
    await vi.waitFor(() => expect(reader.connection.state).not.toBe('open'), { timeout: 5_000 });
    expect(Date.now() - stalledAt).toBeLessThan(3_000);
    await vi.waitFor(() => expect(reader.connection.state).toBe('open'), { timeout: 10_000 });
    await vi.waitFor(() => expect(items.map((item) => (item.type === 'RESYNC' ? null : item.recordId))).toEqual([job.id]), { timeout: 5_000 });
  });
});
