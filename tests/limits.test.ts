import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient } from '../src/client/trpc.ts';
import { Redis } from 'ioredis';
import { createLimits, defaultLimits, RateLimiter, type Limits } from '../src/server/limits.ts';
import { RedisLimitStore } from '../src/server/limits/redis.ts';
import { createLogger } from '../src/server/logger.ts';
import { freePort } from './helpers/process.ts';
import { isRedisLeftOut, startRedis } from './helpers/redis.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    config: { MUTATIONS_PER_SECOND_PER_CONNECTION: 2, MUTATIONS_PER_SECOND_PER_USER: 1000, MAX_SUBSCRIPTIONS_PER_CONNECTION: 2, MAX_CONNECTIONS_PER_USER: 2 },
  });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

async function openRawSocket(email: 'alice@acme.test' | 'bob@acme.test' | 'carol@globex.test') {
  const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
  const replies: { id: unknown; error?: { data?: { code?: string } }; result?: { type?: string } }[] = [];
  socket.on('message', (data) => replies.push(JSON.parse(String(data))));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor(email) } }));
  return { socket, replies };
}

describe('RateLimiter', () => {
  it('allows a burst, then says when the next call may come, and refills with time', () => {
    const limiter = new RateLimiter(10, 3);
    expect([1, 2, 3].map(() => limiter.take('k', 1_000).ok)).toEqual([true, true, true]);
    const refused = limiter.take('k', 1_000);
    expect(refused).toEqual({ ok: false, retryAfterMs: 100 });
    expect(limiter.take('k', 1_100).ok).toBe(true);
    expect(limiter.take('other', 1_100).ok).toBe(true);
  });

  it('keeps memory bounded by dropping buckets that are full again', () => {
    const limiter = new RateLimiter(1_000, 1);
    for (let i = 0; i < 25_000; i++) limiter.take(`key-${i}`, i);
    expect(limiter.size).toBeLessThanOrEqual(10_001);
  });
});

describe('limits', () => {
  it('answers mutations past the per-connection rate with TOO_MANY_REQUESTS and a retry hint, and writes nothing', async () => {
    const alice = await t.caller('alice@acme.test');
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => alice.leads.create({ name: `Burst ${i}` })));
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const outcome of refused) expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    expect(await t.deps.db.lead.count({ where: { name: { startsWith: 'Burst ' } } })).toBe(8 - refused.length);

    const token = await t.tokenFor('bob@acme.test');
    const http = createHttpClient(t.server.url, () => token);
    // Over HTTP all of a user's requests share one budget, batched or not.
    const overHttp = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => http.leads.create.mutate({ name: `HTTP burst ${i}` })));
    const httpRefused = overHttp.filter((outcome) => outcome.status === 'rejected').map((outcome) => (outcome as PromiseRejectedResult).reason);
    expect(httpRefused.length).toBeGreaterThan(0);
    expect(httpRefused[0]).toMatchObject({ data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, retryAfterMs: expect.any(Number) } });
    const metrics = await (await fetch(`${t.server.url}/metrics`)).text();
    expect(metrics).toMatch(/tandem_rate_limited_total\{limit="mutations per connection"\} [1-9]/);
  });

  it('caps subscriptions per connection and frees the slot when one ends', async () => {
    const { socket, replies } = await openRawSocket('alice@acme.test');
    const subscribe = (id: number) => socket.send(JSON.stringify({ id, method: 'subscription', params: { path: 'jobs.onChange', input: {} } }));
    subscribe(1);
    subscribe(2);
    subscribe(3);
    await vi.waitFor(() => expect(replies.filter((reply) => [1, 2, 3].includes(reply.id as number))).toHaveLength(3), { timeout: 5_000 });
    expect(replies.find((reply) => reply.id === 3)?.error?.data?.code).toBe('TOO_MANY_REQUESTS');
    socket.send(JSON.stringify({ id: 1, method: 'subscription.stop' }));
    await vi.waitFor(() => expect(replies.some((reply) => reply.id === 1 && reply.result?.type === 'stopped')).toBe(true), { timeout: 5_000 });
    subscribe(4);
    await vi.waitFor(() => expect(replies.find((reply) => reply.id === 4)?.result?.type).toBe('started'), { timeout: 5_000 });
    socket.close();
  });

  it('caps WebSocket connections per user', async () => {
    const first = await openRawSocket('carol@globex.test');
    const second = await openRawSocket('carol@globex.test');
    const ping = (s: WebSocket, id: number) => s.send(JSON.stringify({ id, method: 'query', params: { path: 'auth.me' } }));
    ping(first.socket, 1);
    ping(second.socket, 1);
    await vi.waitFor(() => expect(first.replies.length + second.replies.length).toBe(2), { timeout: 5_000 });
    const third = await openRawSocket('carol@globex.test');
    const closed = new Promise((resolve) => third.socket.once('close', resolve));
    await closed;
    expect(third.replies[0]?.error?.data?.code).toBe('TOO_MANY_REQUESTS');
    first.socket.close();
    await vi.waitFor(() => expect(t.deps.limits.connectionsOf(t.users['carol@globex.test'].id)).toBe(1), { timeout: 5_000 });
    second.socket.close();
  });

  it('refuses oversized requests: HTTP bodies over 1 MiB and strings over the schema limits', async () => {
    const token = await t.tokenFor('carol@globex.test');
    const response = await fetch(`${t.server.trpcUrl}/leads.create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(response.status).toBe(413);
    const http = createHttpClient(t.server.url, () => token);
    await expect(http.leads.create.mutate({ name: 'y'.repeat(10_000) })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    expect(await t.deps.db.lead.count({ where: { name: { startsWith: 'yyyy' } } })).toBe(0);
  });

  it('serves Prometheus metrics', async () => {
    const response = await fetch(`${t.server.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await response.text();
    for (const name of [
      'tandem_ws_connections',
      'tandem_subscriptions',
      'tandem_events_published_total',
      'tandem_events_delivered_total',
      'tandem_resyncs_total',
      'tandem_slow_consumers_dropped_total',
      'tandem_mutation_duration_seconds_bucket',
      'tandem_delivery_latency_seconds_bucket',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/tandem_events_published_total [1-9]/);
  });
});

describe.skipIf(isRedisLeftOut)('per-user limits shared through Redis', () => {
  const strict = { ...defaultLimits, mutationsPerSecondPerUser: 1, maxConnectionsPerUser: 2 };
  const codeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => 'ok',
      (error: { code?: string }) => error.code,
    );

  it('counts a user across nodes, falls back to each node’s own count while Redis is down, and heals when it returns', async () => {
    await using redis = await startRedis();
    const stores = [0, 1].map(() => new RedisLimitStore({ url: redis.url, logger: createLogger('silent'), slotTtlMs: 60_000 }));
    await Promise.all(stores.map((store) => store.start()));
    const [nodeA, nodeB] = stores.map((store) => createLimits(strict, store)) as [Limits, Limits];
    const probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    probe.on('error', () => undefined);
    try {
      // One bucket of 2 for the user across both nodes.
      expect([await codeOf(nodeA.checkMutation('a1', 'u1')), await codeOf(nodeA.checkMutation('a2', 'u1')), await codeOf(nodeB.checkMutation('b1', 'u1'))]).toEqual([
        'ok',
        'ok',
        'TOO_MANY_REQUESTS',
      ]);
      const first = await nodeA.openConnection('u2');

      await redis.stop();
      // Each node counts alone: node B's own bucket for u1 is still full; nothing is refused for want of Redis.
      expect([await codeOf(nodeB.checkMutation('b1', 'u1')), await codeOf(nodeB.checkMutation('b2', 'u1'))]).toEqual(['ok', 'ok']);
      expect(await codeOf(nodeB.checkMutation('b3', 'u1'))).toBe('TOO_MANY_REQUESTS');
      const second = await nodeB.openConnection('u2');

      await redis.start();
      // Node B's slot, opened while Redis was down, is added when it returns: the user's two slots are taken again.
      await probe.connect();
      await vi.waitFor(async () => expect(await probe.zcard('tandem:limits:connections:u2')).toBe(2), { timeout: 10_000, interval: 100 });
      expect(await codeOf(nodeA.openConnection('u2'))).toBe('TOO_MANY_REQUESTS');
      second();
      await vi.waitFor(async () => expect(await probe.zcard('tandem:limits:connections:u2')).toBe(1), { timeout: 5_000, interval: 50 });
      const third = await nodeA.openConnection('u2');
      first();
      third();
      expect(nodeA.connectionsOf('u2') + nodeB.connectionsOf('u2')).toBe(0);
    } finally {
      probe.disconnect();
      await Promise.all([nodeA.close(), nodeB.close()]);
    }
  });

  it('counts sign-in attempts of an account across nodes, and on each node alone while Redis is down', async () => {
    await using redis = await startRedis();
    const stores = [0, 1].map(() => new RedisLimitStore({ url: redis.url, logger: createLogger('silent') }));
    await Promise.all(stores.map((store) => store.start()));
    const logins = { failuresPerAccount: 2, failuresPerAddress: 100, windowSeconds: 60, lockSeconds: 60, maxLockSeconds: 60 };
    const [nodeA, nodeB] = stores.map((store) => createLimits({ ...defaultLimits, logins }, store)) as [Limits, Limits];
    const attempt = (limits: Limits, email: string) => codeOf(limits.logins.attempt(email, '198.51.100.1'));
    try {
      // Two attempts (failed: nothing reports success) through A; the third, through B, is past the limit.
      expect([await attempt(nodeA, 'a@x.test'), await attempt(nodeA, 'a@x.test'), await attempt(nodeB, 'a@x.test')]).toEqual(['ok', 'ok', 'TOO_MANY_REQUESTS']);

      await redis.stop();
      // Each node counts alone: nothing is refused for want of Redis, and the limit still holds per node.
      expect([await attempt(nodeB, 'b@x.test'), await attempt(nodeB, 'b@x.test'), await attempt(nodeB, 'b@x.test')]).toEqual(['ok', 'ok', 'TOO_MANY_REQUESTS']);
      expect(await attempt(nodeA, 'b@x.test')).toBe('ok');
    } finally {
      await Promise.all([nodeA.close(), nodeB.close()]);
    }
  });

  it('never waits on an unreachable Redis: the node’s own bucket decides', async () => {
    const store = new RedisLimitStore({ url: `redis://127.0.0.1:${await freePort()}`, logger: createLogger('silent') });
    await store.start();
    const limits = createLimits(strict, store);
    const started = Date.now();
    expect([await codeOf(limits.checkMutation('c1', 'u1')), await codeOf(limits.checkMutation('c2', 'u1')), await codeOf(limits.checkMutation('c3', 'u1'))]).toEqual([
      'ok',
      'ok',
      'TOO_MANY_REQUESTS',
    ]);
    const releases = [await limits.openConnection('u1'), await limits.openConnection('u1')];
    expect(await codeOf(limits.openConnection('u1'))).toBe('TOO_MANY_REQUESTS');
    for (const release of releases) release();
    expect(await codeOf(limits.logins.attempt('u1@x.test', '198.51.100.1'))).toBe('ok');
    expect(Date.now() - started).toBeLessThan(1_000);
    await limits.close();
  });
});
