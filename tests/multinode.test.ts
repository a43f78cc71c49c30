import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createTandemClient, type TandemClient } from '../src/client/trpc.ts';
import { startServer, type RunningServer } from '../src/server/app.ts';
import { createApp, type App } from '../src/server/bootstrap.ts';
import type { RedisBus } from '../src/server/bus/redis.ts';
import { seedDemoData } from '../src/server/db/seed.ts';
import { createLogger } from '../src/server/logger.ts';
import type { CrmEvent, StreamItem } from '../src/shared/events.ts';
import { TEST_TOKEN_SECRET } from './helpers/app.ts';
import { startPostgres, type PostgresServer } from './helpers/postgres.ts';
import { freePort, startServerProcess } from './helpers/process.ts';
import { startProxy } from './helpers/proxy.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';

/**
 * Several nodes on one PostgreSQL server and one Redis, all real and on random
 * loopback ports: the scale-out setup of docs/OPERATIONS.md.
 */
let postgres: PostgresServer;
let redis: RedisServer;
let databaseUrl: string;
const nodes: { app: App; server: RunningServer }[] = [];
const clients: TandemClient[] = [];

async function startNode() {
  const app = await createApp(
    { DATABASE_URL: databaseUrl, DATA_DIR: 'memory://', BUS: 'redis', REDIS_URL: redis.url, TOKEN_SECRET: TEST_TOKEN_SECRET, TOKEN_TTL_SECONDS: 3600, SEED_DEMO: false },
    createLogger('silent'),
  );
  const server = await startServer(app.deps, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
  const node = { app, server };
  nodes.push(node);
  return node;
}

beforeAll(async () => {
  postgres = await startPostgres();
  const admin = new pg.Client({ connectionString: postgres.url() });
  await admin.connect();
  const name = `tandem_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  databaseUrl = postgres.url(name);
  redis = await startRedis();
  // Started together on a fresh database, as a deploy would: they take turns migrating.
  const [first] = await Promise.all([startNode(), startNode()]);
  await seedDemoData(first.app.deps, { perModule: 0 });
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  for (const node of nodes) {
    await node.server.close();
    await node.app.close();
  }
  await redis?.[Symbol.asyncDispose]();
  await postgres?.stop();
});

async function tokenFor(email: string) {
  const { deps } = nodes[0]!.app;
  const user = await deps.db.user.findUniqueOrThrow({ where: { email } });
  return (await deps.sessions.signIn(user)).token;
}

async function client(email: string, url: string) {
  const token = await tokenFor(email);
  const created = createTandemClient({ url, getToken: () => token, WebSocket: WebSocket as never, retryDelayMs: () => 100, pollIntervalMs: 200 });
  clients.push(created);
  return created;
}

function collect(tandem: TandemClient) {
  const events: CrmEvent[] = [];
  const odd: StreamItem[] = [];
  let started = false;
  const subscription = tandem.trpc.events.onAny.subscribe(
    {},
    { onStarted: () => (started = true), onData: ({ data }) => (data.type === 'RESYNC' ? odd.push(data) : events.push(data)) },
  );
  return { events, odd, isStarted: () => started, stop: () => subscription.unsubscribe() };
}

async function logSince(after: number, orgEmail = 'alice@acme.test') {
  const user = await nodes[0]!.app.deps.db.user.findUniqueOrThrow({ where: { email: orgEmail } });
  return nodes[0]!.app.deps.db.event.findMany({ where: { orgId: user.orgId, seq: { gt: after } }, orderBy: { seq: 'asc' }, select: { seq: true } });
}

async function headSeq() {
  return (await nodes[0]!.app.deps.db.event.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } }))?.seq ?? 0;
}

describe('several nodes on PostgreSQL and Redis', () => {
  it('delivers a mutation on node A to a subscriber on node B within a second, and never to another org', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const writer = await client('alice@acme.test', a.server.url);
    const reader = collect(await client('bob@acme.test', b.server.url));
    const outsider = collect(await client('carol@globex.test', b.server.url));
    await vi.waitFor(() => expect(reader.isStarted() && outsider.isStarted()).toBe(true), { timeout: 5_000 });
    const job = await writer.trpc.jobs.create.mutate({ title: 'Across nodes' });
    await vi.waitFor(() => expect(reader.events.map((event) => event.recordId)).toContain(job.id), { timeout: 1_000, interval: 5 });
    expect(outsider.events).toEqual([]);
    reader.stop();
    outsider.stop();
  });

  it('a client moved from node A to node B mid-stream resumes with no gap and no duplicate', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    await using balancer = await startProxy(a.server);
    const start = await headSeq();
    const writer = await client('alice@acme.test', b.server.url);
    const moving = collect(await client('bob@acme.test', balancer.url));
    await vi.waitFor(() => expect(moving.isStarted()).toBe(true), { timeout: 5_000 });
    for (let i = 0; i < 5; i++) await writer.trpc.leads.create.mutate({ name: `before move ${i}` });
    balancer.retarget(b.server);
    for (let i = 0; i < 5; i++) await writer.trpc.leads.create.mutate({ name: `after move ${i}` });
    const log = (await logSince(start)).map((row) => row.seq);
    await vi.waitFor(() => expect(moving.events.map((event) => event.seq)).toEqual(log), { timeout: 10_000 });
    expect(moving.odd).toEqual([]);
    moving.stop();
  });

  it('keeps delivering every event while Redis is down (tailing the log) and goes live again when it returns', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const start = await headSeq();
    const writerA = await client('alice@acme.test', a.server.url);
    const writerB = await client('bob@acme.test', b.server.url);
    const onA = collect(await client('bob@acme.test', a.server.url));
    const onB = collect(await client('alice@acme.test', b.server.url));
    await vi.waitFor(() => expect(onA.isStarted() && onB.isStarted()).toBe(true), { timeout: 5_000 });
    const write = async (label: string) => {
      for (let i = 0; i < 4; i++) {
        await writerA.trpc.leads.create.mutate({ name: `${label} A${i}` });
        await writerB.trpc.jobs.create.mutate({ title: `${label} B${i}` });
      }
    };
    await write('before');
    await redis.stop();
    await vi.waitFor(() => expect(nodes.every((node) => (node.app.deps.bus as RedisBus).isTailingLog)).toBe(true), { timeout: 10_000 });
    await write('during');
    const during = (await logSince(start)).map((row) => row.seq);
    await vi.waitFor(() => expect(onA.events.map((event) => event.seq)).toEqual(during), { timeout: 10_000 });
    await vi.waitFor(() => expect(onB.events.map((event) => event.seq)).toEqual(during), { timeout: 10_000 });
    await redis.start();
    await vi.waitFor(() => expect(nodes.some((node) => (node.app.deps.bus as RedisBus).isTailingLog)).toBe(false), { timeout: 15_000 });
    await write('after');
    const log = (await logSince(start)).map((row) => row.seq);
    await vi.waitFor(() => expect(onA.events.map((event) => event.seq)).toEqual(log), { timeout: 10_000 });
    await vi.waitFor(() => expect(onB.events.map((event) => event.seq)).toEqual(log), { timeout: 10_000 });
    expect([...onA.odd, ...onB.odd]).toEqual([]);
    onA.stop();
    onB.stop();
  }, 60_000);

  it('when a node is killed with kill -9, its clients reconnect to another node and miss nothing', async () => {
    const b = nodes[1]!;
    const port = await freePort();
    const doomed = await startServerProcess({
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      BUS: 'redis',
      REDIS_URL: redis.url,
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      SEED_DEMO: 'false',
      DATA_DIR: 'memory://',
    });
    try {
      await using balancer = await startProxy({ port });
      const start = await headSeq();
      const writer = await client('alice@acme.test', b.server.url);
      const survivor = collect(await client('bob@acme.test', balancer.url));
      await vi.waitFor(() => expect(survivor.isStarted()).toBe(true), { timeout: 10_000 });
      for (let i = 0; i < 5; i++) await writer.trpc.leads.create.mutate({ name: `before kill ${i}` });
      await vi.waitFor(() => expect(survivor.events.length).toBe(5), { timeout: 10_000 });
      doomed.child.kill('SIGKILL');
      await doomed.exit;
      for (let i = 0; i < 5; i++) await writer.trpc.leads.create.mutate({ name: `after kill ${i}` });
      balancer.retarget(b.server);
      const log = (await logSince(start)).map((row) => row.seq);
      await vi.waitFor(() => expect(survivor.events.map((event) => event.seq)).toEqual(log), { timeout: 15_000 });
      expect(survivor.odd).toEqual([]);
      survivor.stop();
    } finally {
      doomed.child.kill('SIGKILL');
    }
  }, 60_000);
});
