import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient, createTandemClient, type TandemClient } from '../src/client/trpc.ts';
import type { LogEvent, StreamItem } from '../src/shared/events.ts';
import { freePort, startServerProcess, type ServerProcess } from './helpers/process.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';

/**
 * Real processes: the server as `npm start` runs it, several real @trpc/client
 * subscribers, a stream of mutations from other clients, and a fault in the middle.
 * Afterwards every subscriber must hold exactly the org's log since it subscribed.
 */
interface Cluster {
  server: ServerProcess;
  url: string;
  port: number;
  dataDir: string;
  clients: TandemClient[];
  proxies: TestProxy[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startCluster(): Promise<Cluster> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-chaos-'));
  const port = await freePort();
  const cluster: Cluster = {
    server: await startServerProcess({ PORT: String(port), DATA_DIR: dataDir }),
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    clients: [],
    proxies: [],
  };
  cleanups.push(async () => {
    await Promise.all(cluster.clients.map((client) => client.close()));
    for (const proxy of cluster.proxies) await proxy[Symbol.asyncDispose]();
    cluster.server.child.kill('SIGKILL');
    await cluster.server.exit;
    await rm(dataDir, { recursive: true, force: true });
  });
  return cluster;
}

async function restart(cluster: Cluster) {
  cluster.server = await startServerProcess({ PORT: String(cluster.port), DATA_DIR: cluster.dataDir });
}

async function signIn(url: string, email: string) {
  return (await createHttpClient(url).auth.login.mutate({ email, password: 'demo1234' })).token;
}

function connect(cluster: Cluster, token: string, url = cluster.url) {
  const client = createTandemClient({ url, getToken: () => token, WebSocket: WebSocket as never, retryDelayMs: () => 100, pollIntervalMs: 200 });
  cluster.clients.push(client);
  return client;
}

function subscribe(client: TandemClient) {
  const items: StreamItem[] = [];
  const errors: unknown[] = [];
  let started = false;
  client.trpc.events.onAny.subscribe({}, { onStarted: () => (started = true), onData: ({ data }) => items.push(data), onError: (error) => errors.push(error) });
  return { items, errors, isStarted: () => started };
}

/**
 * As a real client does when rate limited (a writer here sends as fast as the server
 * answers, past the per-connection limit): waits `retryAfterMs` and sends the same
 * request again, which the refusal left unapplied.
 */
async function politely<T>(send: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await send();
    } catch (error) {
      const data = (error as { data?: { code?: string; retryAfterMs?: number } }).data;
      if (data?.code !== 'TOO_MANY_REQUESTS') throw error;
      await new Promise((resolve) => setTimeout(resolve, data.retryAfterMs ?? 50));
    }
  }
}

/** Writers creating and updating leads until stopped; every call must succeed (retries are the link's job). */
function startWriters(writers: TandemClient[]) {
  let stop = false;
  let done = 0;
  const names: string[] = [];
  const runs = writers.map(async (writer, w) => {
    for (let i = 0; !stop; i++) {
      const name = `chaos-${w}-${i}-${Math.random().toString(36).slice(2, 8)}`;
      names.push(name);
      const lead = await politely(() => writer.trpc.leads.create.mutate({ name }));
      if (i % 3 === 0) await politely(() => writer.trpc.leads.update.mutate({ id: lead.id, expectedVersion: 1, patch: { status: 'contacted' } }));
      done += 1;
    }
  });
  return {
    names,
    completed: () => done,
    async stop() {
      stop = true;
      await Promise.all(runs);
    },
  };
}

async function readLog(url: string, token: string, after: string): Promise<LogEvent[]> {
  const http = createHttpClient(url, () => token);
  const events: LogEvent[] = [];
  let lastEventId = after;
  for (;;) {
    const page = await http.events.since.query({ lastEventId, limit: 1000 });
    expect(page.resync).toBeNull();
    events.push(...page.events);
    if (!page.more) return events;
    lastEventId = page.lastEventId;
  }
}

async function runScenario(fault: (cluster: Cluster) => Promise<void>, { viaProxy = false } = {}) {
  const cluster = await startCluster();
  const bobToken = await signIn(cluster.url, 'bob@acme.test');
  const aliceToken = await signIn(cluster.url, 'alice@acme.test');
  const start = (await createHttpClient(cluster.url, () => bobToken).events.head.query()).lastEventId;

  let subscriberUrl = cluster.url;
  if (viaProxy) {
    const proxy = await startProxy({ port: cluster.port });
    cluster.proxies.push(proxy);
    subscriberUrl = proxy.url;
  }
  const subscribers = [bobToken, aliceToken, bobToken].map((token) => subscribe(connect(cluster, token, subscriberUrl)));
  await vi.waitFor(() => expect(subscribers.every((s) => s.isStarted())).toBe(true), { timeout: 10_000 });
  // Subscribed from the head as it was before any write: the log after `start` is what each must hold.
  const writers = startWriters([connect(cluster, aliceToken), connect(cluster, bobToken)]);
  await vi.waitFor(() => expect(writers.completed()).toBeGreaterThanOrEqual(15), { timeout: 20_000, interval: 20 });
  await fault(cluster);
  const afterFault = writers.completed();
  await vi.waitFor(() => expect(writers.completed()).toBeGreaterThanOrEqual(afterFault + 15), { timeout: 60_000, interval: 50 });
  await writers.stop();

  const log = await readLog(cluster.url, bobToken, start);
  const expected = log.map((event) => event.seq);
  for (const subscriber of subscribers) {
    await vi.waitFor(() => expect(subscriber.items.length).toBeGreaterThanOrEqual(expected.length), { timeout: 30_000, interval: 50 });
    expect(subscriber.items.map((item) => (item.type === 'RESYNC' ? `resync:${item.reason}` : item.seq))).toEqual(expected);
    expect(subscriber.errors).toEqual([]);
  }
  // Every mutation applied exactly once, even those whose reply the fault swallowed.
  const names = new Map<string, number>();
  for (const event of log) if (event.type === 'LEAD_CREATED') names.set(event.data.name, (names.get(event.data.name) ?? 0) + 1);
  for (const name of writers.names) expect(names.get(name)).toBe(1);
  expect(log.length).toBeGreaterThanOrEqual(30);
}

describe('chaos: nothing lost, nothing applied twice', () => {
  it('survives kill -9 of the server mid-stream and a restart on the same database and port', async () => {
    await runScenario(async (cluster) => {
      cluster.server.child.kill('SIGKILL');
      await cluster.server.exit;
      await restart(cluster);
    });
  }, 180_000);

  it('survives a graceful SIGTERM restart mid-stream', async () => {
    await runScenario(async (cluster) => {
      cluster.server.child.kill('SIGTERM');
      expect(await cluster.server.exit).toBe(0);
      await restart(cluster);
    });
  }, 180_000);

  it("survives the subscribers' connections being cut from the client side", async () => {
    await runScenario(
      async (cluster) => {
        const [proxy] = cluster.proxies;
        proxy!.setMode('offline');
        await vi.waitFor(() => expect(cluster.clients.slice(0, 3).every((client) => client.connection.state !== 'open')).toBe(true), { timeout: 10_000 });
        proxy!.setMode('pass');
      },
      { viaProxy: true },
    );
  }, 180_000);
});

describe('chaos: group commit', () => {
  it('loses no acknowledged change and applies none twice when killed with -9 while group commits of two orgs are in flight', async () => {
    const cluster = await startCluster();
    const tokens = { acme: await signIn(cluster.url, 'alice@acme.test'), globex: await signIn(cluster.url, 'carol@globex.test') };
    const starts = {
      acme: (await createHttpClient(cluster.url, () => tokens.acme).events.head.query()).lastEventId,
      globex: (await createHttpClient(cluster.url, () => tokens.globex).events.head.query()).lastEventId,
    };
    // Two writers per org, so changes of both orgs arrive together and commit in the same batches.
    const writers = startWriters([tokens.acme, tokens.acme, tokens.globex, tokens.globex].map((token) => connect(cluster, token)));
    await vi.waitFor(() => expect(writers.completed()).toBeGreaterThanOrEqual(40), { timeout: 30_000, interval: 20 });
    const metrics = await (await fetch(`${cluster.url}/metrics`)).text();
    const figure = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1]);
    // Batches held more than one change each on average: the kill lands among group commits.
    expect(figure('tandem_group_commit_changes_total')).toBeGreaterThan(figure('tandem_group_commit_batches_total'));
    const acknowledged = writers.completed();

    cluster.server.child.kill('SIGKILL');
    await cluster.server.exit;
    await restart(cluster);
    await vi.waitFor(() => expect(writers.completed()).toBeGreaterThanOrEqual(acknowledged + 20), { timeout: 60_000, interval: 50 });
    await writers.stop();

    const created = new Map<string, number>();
    for (const org of ['acme', 'globex'] as const) {
      for (const event of await readLog(cluster.url, tokens[org], starts[org])) {
        if (event.type === 'LEAD_CREATED') created.set(event.data.name, (created.get(event.data.name) ?? 0) + 1);
      }
    }
    // Every call, acknowledged before the kill, in flight at it or sent after, is in its org's log exactly once.
    for (const name of writers.names) expect(created.get(name)).toBe(1);
    expect(created.size).toBe(writers.names.length);
  }, 180_000);
});
