import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createTandemClient, type TandemClient } from '../src/client/trpc.ts';
import { startServer, type RunningServer } from '../src/server/app.ts';
import { createApp, type App, type AppConfig } from '../src/server/bootstrap.ts';
import type { RedisBus } from '../src/server/bus/redis.ts';
import { createContextInner } from '../src/server/context.ts';
import { seedDemoData } from '../src/server/db/seed.ts';
import { createLogger } from '../src/server/logger.ts';
import { RedisPresenceSync } from '../src/server/presence/redis.ts';
import { PresenceService } from '../src/server/presence/service.ts';
import { appRouter } from '../src/server/routers/_app.ts';
import { createCallerFactory } from '../src/server/trpc.ts';
import type { PublicUser } from '../src/shared/auth.ts';
import type { CrmEvent } from '../src/shared/events.ts';
import type { PresenceEntry, RecordActivity } from '../src/shared/presence.ts';
import { TEST_TOKEN_SECRET } from './helpers/app.ts';
import { startPostgres, type PostgresServer } from './helpers/postgres.ts';
import { freePort, startServerProcess } from './helpers/process.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';

/**
 * Presence, typing and per-user limits across nodes on one PostgreSQL server and one
 * Redis, all real and on random loopback ports. Nodes forget a silent node after
 * NODE_TTL_MS (short here).
 */
const NODE_TTL_MS = 1_500;
let postgres: PostgresServer;
let redis: RedisServer;
let databaseUrl: string;
type Node = { app: App; server: RunningServer };
const nodes: Node[] = [];
const clients: TandemClient[] = [];
let a: Node;
let b: Node;
const users = new Map<string, PublicUser>();

async function startNode(config: Partial<AppConfig> = {}) {
  const app = await createApp(
    {
      DATABASE_URL: databaseUrl,
      DATA_DIR: 'memory://',
      BUS: 'redis',
      REDIS_URL: redis.url,
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      TOKEN_TTL_SECONDS: 3600,
      SEED_DEMO: false,
      NODE_TTL_MS,
      TYPING_TIMEOUT_MS: 800,
      MUTATIONS_PER_SECOND_PER_CONNECTION: 1_000,
      MUTATIONS_PER_SECOND_PER_USER: 1_000,
      ...config,
    },
    createLogger('silent'),
  );
  const server = await startServer(app.deps, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
  const node = { app, server };
  nodes.push(node);
  return node;
}

async function stopNode(node: Node) {
  nodes.splice(nodes.indexOf(node), 1);
  await node.server.close();
  await node.app.close();
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
  a = await startNode();
  await seedDemoData(a.app.deps, { perModule: 0 });
  b = await startNode();
  const acme = await a.app.deps.db.org.findFirstOrThrow({ where: { name: 'Acme Realty' } });
  for (const [email, name] of [
    ['dave@acme.test', 'Dave Dunn'],
    ['erin@acme.test', 'Erin East'],
    ['fay@acme.test', 'Fay Ford'],
  ] as const) {
    await a.app.deps.db.user.create({ data: { orgId: acme.id, email, name, role: 'agent', passwordHash: 'unused' } });
  }
  for (const row of await a.app.deps.db.user.findMany({ include: { org: true } })) {
    users.set(row.email, { id: row.id, orgId: row.orgId, orgName: row.org.name, email: row.email, name: row.name, role: row.role as PublicUser['role'] });
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  for (const node of [...nodes]) await stopNode(node);
  await redis?.[Symbol.asyncDispose]();
  await postgres?.stop();
});

const user = (email: string) => users.get(email)!;

async function tokenFor(email: string) {
  return (await a.app.deps.sessions.signIn(user(email))).token;
}

/** A real client over a WebSocket to `url`; resolves once the socket is open. */
async function connect(email: string, url: string, { retryDelayMs = 100 } = {}) {
  const token = await tokenFor(email);
  const client = createTandemClient({ url, getToken: () => token, WebSocket: WebSocket as never, retryDelayMs: () => retryDelayMs, pollIntervalMs: 200 });
  clients.push(client);
  await vi.waitFor(() => expect(client.connection.state).toBe('open'), { timeout: 5_000 });
  return client;
}

function watchPresence(client: TandemClient) {
  const changes: PresenceEntry[] = [];
  let started = false;
  const subscription = client.trpc.presence.onChange.subscribe(undefined, { onStarted: () => (started = true), onData: ({ data }) => changes.push(data) });
  return {
    changes,
    isStarted: () => started,
    stop: () => subscription.unsubscribe(),
    of: (email: string) => changes.filter((change) => change.userId === user(email).id).map((change) => change.status),
  };
}

function watchRecord(client: TandemClient, recordId: string) {
  const activity: RecordActivity[] = [];
  let started = false;
  let error: unknown;
  const subscription = client.trpc.presence.onRecord.subscribe(
    { module: 'jobs', recordId },
    { onStarted: () => (started = true), onData: ({ data }) => activity.push(data), onError: (cause) => (error = cause) },
  );
  return {
    activity,
    isStarted: () => started,
    error: () => error,
    stop: () => subscription.unsubscribe(),
    viewers: () => {
      const last = activity.filter((item) => item.type === 'viewers').at(-1);
      return last?.type === 'viewers' ? last.viewers.map((viewer) => viewer.name) : undefined;
    },
    typing: () => activity.flatMap((item) => (item.type === 'typing' ? [`${item.name}:${item.field}:${item.typing}`] : [])),
  };
}

/** Where node `on` believes the user is connected. */
const nodesOf = (on: Node, email: string) => on.app.deps.presence.nodesOf(user(email).orgId, user(email).id).sort();
const statusOn = (on: Node, email: string) => on.app.deps.presence.list(user(email).orgId).find((entry) => entry.userId === user(email).id)?.status;

describe('presence across nodes', () => {
  it('a user connected to node A and node B is one entry, online until both connections close', async () => {
    const bob = await connect('bob@acme.test', b.server.url);
    const bobSees = watchPresence(bob);
    await vi.waitFor(() => expect(bobSees.isStarted()).toBe(true), { timeout: 5_000 });

    const onA = await connect('alice@acme.test', a.server.url);
    const onB = await connect('alice@acme.test', b.server.url);
    const both = [a.app.deps.presence.nodeId, b.app.deps.presence.nodeId].sort();
    await vi.waitFor(() => expect([nodesOf(a, 'alice@acme.test'), nodesOf(b, 'alice@acme.test')]).toEqual([both, both]), { timeout: 5_000 });
    for (const node of [a, b]) {
      const entries = node.app.deps.presence.list(user('alice@acme.test').orgId).filter((entry) => entry.userId === user('alice@acme.test').id);
      expect(entries.map((entry) => entry.status)).toEqual(['online']);
    }
    expect(bobSees.of('alice@acme.test')).toEqual(['online']);
    expect((await bob.trpc.presence.list.query()).filter((entry) => entry.name === 'Alice Anders')).toHaveLength(1);

    await onA.close();
    await vi.waitFor(() => expect(nodesOf(b, 'alice@acme.test')).toEqual([b.app.deps.presence.nodeId]), { timeout: 5_000 });
    expect(statusOn(a, 'alice@acme.test')).toBe('online');
    expect(statusOn(b, 'alice@acme.test')).toBe('online');
    expect(bobSees.of('alice@acme.test')).toEqual(['online']);

    await onB.close();
    await vi.waitFor(() => expect(bobSees.of('alice@acme.test')).toEqual(['online', 'offline']), { timeout: 5_000 });
    await vi.waitFor(() => expect(statusOn(a, 'alice@acme.test')).toBeUndefined(), { timeout: 5_000 });
    bobSees.stop();
    await bob.close();
  });

  it('bob on node B sees alice on node A view a record, type in it, and leave it', async () => {
    const alice = await connect('alice@acme.test', a.server.url);
    const bob = await connect('bob@acme.test', b.server.url);
    const job = await bob.trpc.jobs.create.mutate({ title: 'Watched from two nodes' });
    const bobWatches = watchRecord(bob, job.id);
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual([]), { timeout: 5_000 });

    await alice.trpc.presence.view.mutate({ module: 'jobs', recordId: job.id });
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual(['Alice Anders']), { timeout: 5_000 });
    expect((await bob.trpc.presence.view.mutate({ module: 'jobs', recordId: job.id })).viewers.map((viewer) => viewer.name)).toEqual(['Alice Anders', 'Bob Brooks']);

    await alice.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'notes' });
    await vi.waitFor(() => expect(bobWatches.typing()).toEqual(['Alice Anders:notes:true']), { timeout: 5_000 });
    await alice.trpc.typing.stop.mutate({ module: 'jobs', recordId: job.id, field: 'notes' });
    await vi.waitFor(() => expect(bobWatches.typing()).toEqual(['Alice Anders:notes:true', 'Alice Anders:notes:false']), { timeout: 5_000 });
    // A typing state clears itself on its own node (TYPING_TIMEOUT_MS), and the other node hears it.
    await alice.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'title' });
    await vi.waitFor(() => expect(bobWatches.typing().slice(2)).toEqual(['Alice Anders:title:true', 'Alice Anders:title:false']), { timeout: 5_000 });

    // A newcomer on node B gets the state kept for node A at once: viewers and typing.
    await alice.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'status' });
    await vi.waitFor(() => expect(bobWatches.typing().at(-1)).toBe('Alice Anders:status:true'), { timeout: 5_000 });
    const late = watchRecord(bob, job.id);
    await vi.waitFor(() => expect(late.viewers()).toEqual(['Alice Anders', 'Bob Brooks']), { timeout: 5_000 });
    expect(late.typing()).toContain('Alice Anders:status:true');
    late.stop();

    await alice.trpc.presence.leave.mutate({ module: 'jobs', recordId: job.id });
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual(['Bob Brooks']), { timeout: 5_000 });
    expect(bobWatches.typing().at(-1)).toBe('Alice Anders:status:false');
    bobWatches.stop();
    await alice.close();
    await bob.close();
  });

  it('never shows one org the presence, viewers or typing of another, on any node', async () => {
    const carol = await connect('carol@globex.test', a.server.url);
    const carolSees = watchPresence(carol);
    const bob = await connect('bob@acme.test', b.server.url);
    const job = await bob.trpc.jobs.create.mutate({ title: 'Acme only' });
    // The same record id, asked for by Globex: it names no Globex record, and must show nothing of Acme's.
    const carolWatches = watchRecord(carol, job.id);
    await vi.waitFor(() => expect(carolSees.isStarted()).toBe(true), { timeout: 5_000 });
    // Acme's record is not Globex's: NOT_FOUND, as byId.
    await vi.waitFor(() => expect(carolWatches.error()).toMatchObject({ data: { code: 'NOT_FOUND' } }), { timeout: 5_000 });
    await bob.trpc.presence.view.mutate({ module: 'jobs', recordId: job.id });
    await bob.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'notes' });
    const erin = await connect('erin@acme.test', a.server.url);
    await erin.trpc.presence.view.mutate({ module: 'jobs', recordId: job.id });
    // Node A knows of bob on node B, of erin here, and of typing on B: everything has arrived.
    await vi.waitFor(() => expect(a.app.deps.presence.viewers(a.app.deps.presence.recordKey(user('bob@acme.test').orgId, 'jobs', job.id))).toHaveLength(2), {
      timeout: 5_000,
    });
    await vi.waitFor(() => expect(nodesOf(a, 'bob@acme.test')).toEqual([b.app.deps.presence.nodeId]), { timeout: 5_000 });
    // Node B knows erin, who came after carol on node A: it knows carol too (one publisher, in order).
    await vi.waitFor(() => expect(nodesOf(b, 'erin@acme.test')).toEqual([a.app.deps.presence.nodeId]), { timeout: 5_000 });

    const globex = user('carol@globex.test').orgId;
    for (const node of [a, b]) expect(node.app.deps.presence.list(globex).map((entry) => entry.name)).toEqual(['Carol Chen']);
    expect((await carol.trpc.presence.list.query()).map((entry) => entry.name)).toEqual(['Carol Chen']);
    expect(carolSees.changes.every((change) => change.userId === user('carol@globex.test').id)).toBe(true);
    expect(carolWatches.activity).toEqual([]);
    carolSees.stop();
    carolWatches.stop();
    await Promise.all([carol.close(), bob.close(), erin.close()]);
  });

  it('when a node is killed with kill -9, its users go offline on the other nodes within the expiry', async () => {
    const port = await freePort();
    const doomed = await startServerProcess({
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      BUS: 'redis',
      REDIS_URL: redis.url,
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      SEED_DEMO: 'false',
      DATA_DIR: 'memory://',
      NODE_TTL_MS: String(NODE_TTL_MS),
    });
    try {
      const bob = await connect('bob@acme.test', b.server.url);
      const bobSees = watchPresence(bob);
      const job = await bob.trpc.jobs.create.mutate({ title: 'Viewed from a doomed node' });
      const bobWatches = watchRecord(bob, job.id);
      // Dave is only on the doomed node, and does not come back.
      const dave = await connect('dave@acme.test', doomed.url, { retryDelayMs: 60_000 });
      await dave.trpc.presence.view.mutate({ module: 'jobs', recordId: job.id });
      await vi.waitFor(() => expect(bobSees.of('dave@acme.test')).toEqual(['online']), { timeout: 5_000 });
      await vi.waitFor(() => expect(bobWatches.viewers()).toEqual(['Dave Dunn']), { timeout: 5_000 });

      doomed.child.kill('SIGKILL');
      await doomed.exit;
      const killedAt = Date.now();
      await vi.waitFor(() => expect(bobSees.of('dave@acme.test')).toEqual(['online', 'offline']), { timeout: NODE_TTL_MS * 4, interval: 20 });
      const tookMs = Date.now() - killedAt;
      expect(bobWatches.viewers()).toEqual([]);
      // Gone after the expiry (a beat at most late), not before: the node was only silent.
      expect(tookMs).toBeLessThanOrEqual(NODE_TTL_MS + NODE_TTL_MS / 3 + 500);
      await vi.waitFor(() => expect(statusOn(a, 'dave@acme.test')).toBeUndefined(), { timeout: NODE_TTL_MS * 4 });
      bobSees.stop();
      bobWatches.stop();
      await bob.close();
    } finally {
      doomed.child.kill('SIGKILL');
    }
  }, 90_000);

  it('Redis down: presence falls back to each node’s own, record events keep flowing, and it is shared again when Redis returns', async () => {
    const fay = await connect('fay@acme.test', a.server.url);
    const bob = await connect('bob@acme.test', b.server.url);
    const bobSees = watchPresence(bob);
    const events: CrmEvent[] = [];
    let started = false;
    const stream = bob.trpc.events.onAny.subscribe({}, { onStarted: () => (started = true), onData: ({ data }) => data.type !== 'RESYNC' && events.push(data) });
    await vi.waitFor(() => expect(started && bobSees.of('fay@acme.test').at(-1) === 'online').toBe(true), { timeout: 5_000 });

    await redis.stop();
    await vi.waitFor(() => expect(nodes.every((node) => (node.app.deps.bus as RedisBus).isTailingLog)).toBe(true), { timeout: 10_000 });
    // Node B cannot hear node A any more: after the expiry Fay, on A only, is gone from B's view.
    await vi.waitFor(() => expect(bobSees.of('fay@acme.test').at(-1)).toBe('offline'), { timeout: NODE_TTL_MS * 4 });
    // Everything else works: record events from node A reach bob on B (from the log), presence on B is B's own.
    const lead = await fay.trpc.leads.create.mutate({ name: 'Written while Redis is down' });
    await vi.waitFor(() => expect(events.map((event) => event.recordId)).toContain(lead.id), { timeout: 10_000 });
    const erin = await connect('erin@acme.test', b.server.url);
    await vi.waitFor(() => expect(bobSees.of('erin@acme.test').at(-1)).toBe('online'), { timeout: 5_000 });
    expect(statusOn(a, 'erin@acme.test')).toBeUndefined();

    await redis.start();
    await vi.waitFor(() => expect(bobSees.of('fay@acme.test').at(-1)).toBe('online'), { timeout: 15_000 });
    await vi.waitFor(() => expect(statusOn(a, 'erin@acme.test')).toBe('online'), { timeout: 15_000 });
    stream.unsubscribe();
    bobSees.stop();
    await Promise.all([fay.close(), bob.close(), erin.close()]);
  }, 60_000);
});

describe('per-user limits across nodes', () => {
  const createCaller = createCallerFactory(appRouter);
  const callerOn = async (node: Node, email: string) => createCaller(await createContextInner(node.app.deps, await tokenFor(email)));
  // Two more nodes with strict limits (a user may send 1 mutation per second, burst 2, and hold 2 sockets).
  let strictA: Node;
  let strictB: Node;
  beforeAll(async () => {
    // One after the other: each start takes the migrations' advisory lock.
    strictA = await startNode({ MUTATIONS_PER_SECOND_PER_USER: 1, MAX_CONNECTIONS_PER_USER: 2 });
    strictB = await startNode({ MUTATIONS_PER_SECOND_PER_USER: 1, MAX_CONNECTIONS_PER_USER: 2 });
  }, 60_000);

  it('enforces the mutation rate of a user across nodes: once spent on node A, node B refuses too', async () => {
    const onA = await callerOn(strictA, 'erin@acme.test');
    const onB = await callerOn(strictB, 'erin@acme.test');
    // A bucket holds twice the rate: two go through, then node A refuses.
    const outcomes: string[] = [];
    for (let i = 0; i < 4 && outcomes.at(-1) !== 'TOO_MANY_REQUESTS'; i++) {
      outcomes.push(
        await onA.leads.create({ name: `Spent on A ${i}` }).then(
          () => 'ok',
          (error: { code: string }) => error.code,
        ),
      );
    }
    expect(outcomes.slice(0, 2)).toEqual(['ok', 'ok']);
    expect(outcomes.at(-1)).toBe('TOO_MANY_REQUESTS');
    const refused = await onB.leads.create({ name: 'Tried on B' }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'TOO_MANY_REQUESTS', message: expect.stringMatching(/mutations per user/) });
    // Another user on node B is not affected, and erin's budget refills with time, on either node.
    await expect(callerOn(strictB, 'dave@acme.test').then((dave) => dave.leads.create({ name: 'Dave is fine' }))).resolves.toMatchObject({ name: 'Dave is fine' });
    await vi.waitFor(() => expect(onB.leads.create({ name: 'Later on B' })).resolves.toMatchObject({ name: 'Later on B' }), { timeout: 5_000, interval: 200 });
  });

  it('caps a user’s WebSocket connections across nodes', async () => {
    const sockets: WebSocket[] = [];
    const open = async (node: Node) => {
      const socket = new WebSocket(`${node.server.wsUrl}?connectionParams=1`);
      sockets.push(socket);
      const replies: { id: unknown; error?: { data?: { code?: string } }; result?: unknown }[] = [];
      socket.on('message', (data) => replies.push(JSON.parse(String(data))));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await tokenFor('dave@acme.test') } }));
      socket.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'auth.me' } }));
      await vi.waitFor(() => expect(replies.length).toBeGreaterThan(0), { timeout: 5_000 });
      return { socket, replies, closed };
    };
    try {
      const first = await open(strictA);
      const second = await open(strictA);
      expect([first.replies[0]?.result, second.replies[0]?.result]).toEqual([expect.anything(), expect.anything()]);
      const third = await open(strictB);
      expect(third.replies[0]?.error?.data?.code).toBe('TOO_MANY_REQUESTS');
      await third.closed;
      first.socket.close();
      await first.closed;
      await vi.waitFor(
        async () => {
          const fourth = await open(strictB);
          expect(fourth.replies[0]?.result).toBeDefined();
        },
        { timeout: 5_000, interval: 100 },
      );
    } finally {
      for (const socket of sockets) socket.close();
    }
  });
});

describe('the Redis presence replica on its own', () => {
  const acme = { orgId: 'org-r', orgName: 'R', role: 'agent' as const };
  const rita = { ...acme, id: 'u-rita', email: 'rita@r.test', name: 'Rita Reyes' };
  const sam = { ...acme, id: 'u-sam', email: 'sam@r.test', name: 'Sam Stone' };

  /** A presence node of its own key space in the test's Redis (no database), with a long TTL: only a bye can drop it quickly. */
  async function replicaNode(prefix: string) {
    const presence = new PresenceService();
    const sync = new RedisPresenceSync(presence, { url: redis.url, logger: createLogger('silent'), nodeTtlMs: 60_000, prefix });
    await sync.start();
    return {
      presence,
      sync,
      async [Symbol.asyncDispose]() {
        await presence.close();
      },
    };
  }

  it('a node that starts later reads the rows already shared; one that shuts down takes its users at once; junk on the channel is ignored', async () => {
    const prefix = `test:${randomBytes(4).toString('hex')}`;
    await using first = await replicaNode(prefix);
    first.presence.connect('c1', rita);
    first.presence.view('c1', rita, 'jobs', 'job-9');
    await using second = await replicaNode(prefix);
    expect(second.sync.isLive).toBe(true);
    expect(second.presence.list(acme.orgId).map((entry) => entry.name)).toEqual(['Rita Reyes']);
    expect(second.presence.viewers(second.presence.recordKey(acme.orgId, 'jobs', 'job-9')).map((viewer) => viewer.name)).toEqual(['Rita Reyes']);

    const probe = new Redis(redis.url);
    try {
      await probe.publish(prefix, 'not json');
      await probe.publish(prefix, JSON.stringify({ node: 'x', rows: [['org-r', 'u-x', { name: 42 }]] }));
    } finally {
      probe.disconnect();
    }
    await using third = await replicaNode(prefix);
    third.presence.connect('c2', sam);
    await vi.waitFor(
      () =>
        expect(
          first.presence
            .list(acme.orgId)
            .map((entry) => entry.name)
            .sort(),
        ).toEqual(['Rita Reyes', 'Sam Stone']),
      { timeout: 5_000 },
    );
    expect(
      second.presence
        .list(acme.orgId)
        .map((entry) => entry.name)
        .sort(),
    ).toEqual(['Rita Reyes', 'Sam Stone']);

    const closedAt = Date.now();
    await first.presence.close();
    await vi.waitFor(() => expect(second.presence.list(acme.orgId).map((entry) => entry.name)).toEqual(['Sam Stone']), { timeout: 5_000, interval: 10 });
    expect(Date.now() - closedAt).toBeLessThan(2_000);
    expect(second.presence.viewers(second.presence.recordKey(acme.orgId, 'jobs', 'job-9'))).toEqual([]);
  });
});
