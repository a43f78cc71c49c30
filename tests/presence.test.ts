import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from '../src/client/trpc.ts';
import type { PresenceEntry, RecordActivity } from '../src/shared/presence.ts';
import { startProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    config: { PRESENCE_IDLE_MS: 400, MUTATIONS_PER_SECOND_PER_CONNECTION: 1_000, MUTATIONS_PER_SECOND_PER_USER: 1_000 },
    server: { keepAlive: { pingMs: 100, pongWaitMs: 200 } },
  });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

function watchPresence(client: TandemClient) {
  const changes: PresenceEntry[] = [];
  let started = false;
  const subscription = client.trpc.presence.onChange.subscribe(undefined, { onStarted: () => (started = true), onData: ({ data }) => changes.push(data) });
  return { changes, isStarted: () => started, stop: () => subscription.unsubscribe(), of: (userId: string) => changes.filter((c) => c.userId === userId).map((c) => c.status) };
}

function watchRecord(client: TandemClient, module: 'jobs', recordId: string) {
  const activity: RecordActivity[] = [];
  const subscription = client.trpc.presence.onRecord.subscribe({ module, recordId }, { onData: ({ data }) => activity.push(data) });
  return {
    activity,
    stop: () => subscription.unsubscribe(),
    viewers: () => {
      const last = activity.filter((a) => a.type === 'viewers').at(-1);
      return last?.type === 'viewers' ? last.viewers.map((v) => v.name) : undefined;
    },
    typing: () => activity.filter((a) => a.type === 'typing').map((a) => (a.type === 'typing' ? `${a.name}:${a.field}:${a.typing}` : '')),
  };
}

const alice = () => t.users['alice@acme.test'];

describe('presence', () => {
  it('goes online → idle → online → offline, as one entry per user across tabs, never seen by another org', async () => {
    const bob = await t.client('bob@acme.test');
    const carol = await t.client('carol@globex.test');
    const bobSees = watchPresence(bob);
    const carolSees = watchPresence(carol);
    await vi.waitFor(() => expect(bobSees.isStarted() && carolSees.isStarted()).toBe(true), { timeout: 5_000 });

    const tab1 = await t.client('alice@acme.test');
    await vi.waitFor(() => expect(bobSees.of(alice().id)).toEqual(['online']), { timeout: 5_000 });
    await vi.waitFor(() => expect(bobSees.of(alice().id)).toEqual(['online', 'idle']), { timeout: 5_000 });
    // Over the socket: a heartbeat sent over HTTP would make an HTTP presence of its own (kept 60 s).
    await vi.waitFor(() => expect(tab1.connection.state).toBe('open'), { timeout: 5_000 });
    await tab1.trpc.presence.heartbeat.mutate({ active: true });
    await vi.waitFor(() => expect(bobSees.of(alice().id)).toEqual(['online', 'idle', 'online']), { timeout: 5_000 });

    const tab2 = await t.client('alice@acme.test');
    await vi.waitFor(() => expect(tab2.connection.state).toBe('open'), { timeout: 5_000 });
    await tab2.trpc.presence.heartbeat.mutate({ active: true });
    await tab1.close();
    expect(t.deps.presence.list(alice().orgId).find((entry) => entry.userId === alice().id)?.status).not.toBe('offline');
    await tab2.close();
    await vi.waitFor(() => expect(bobSees.of(alice().id).at(-1)).toBe('offline'), { timeout: 5_000 });
    expect(bobSees.of(alice().id).filter((status) => status === 'offline')).toHaveLength(1);
    expect((await bob.trpc.presence.list.query()).map((entry) => entry.name)).toContain('Bob Brooks');
    expect(carolSees.changes.every((change) => change.userId === t.users['carol@globex.test'].id)).toBe(true);
    bobSees.stop();
    carolSees.stop();
  });

  it('marks a user offline when their socket dies without a close frame (heartbeat timeout)', async () => {
    await using proxy = await startProxy(t.server);
    const bob = await t.client('bob@acme.test');
    const bobSees = watchPresence(bob);
    const ghost = await t.client('alice@acme.test', { url: proxy.url, retryDelayMs: () => 60_000 });
    await vi.waitFor(() => expect(ghost.connection.state).toBe('open'), { timeout: 5_000 });
    await vi.waitFor(() => expect(bobSees.of(alice().id).at(-1)).toMatch(/online|idle/), { timeout: 5_000 });
    proxy.stallTunnels();
    await vi.waitFor(() => expect(bobSees.of(alice().id).at(-1)).toBe('offline'), { timeout: 5_000 });
    bobSees.stop();
  });

  it('shows who views a record, on view, leave and disconnect; typing clears itself after 3 s', async () => {
    const bob = await t.client('bob@acme.test');
    const carol = await t.client('carol@globex.test');
    const job = await bob.trpc.jobs.create.mutate({ title: 'Watched together' });
    const bobWatches = watchRecord(bob, 'jobs', job.id);
    const carolWatches = watchRecord(carol, 'jobs', job.id);
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual([]), { timeout: 5_000 });

    const aliceTab = await t.client('alice@acme.test');
    await vi.waitFor(() => expect(aliceTab.connection.state).toBe('open'), { timeout: 5_000 });
    await aliceTab.trpc.presence.view.mutate({ module: 'jobs', recordId: job.id });
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual(['Alice Anders']), { timeout: 5_000 });
    await aliceTab.trpc.presence.leave.mutate({ module: 'jobs', recordId: job.id });
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual([]), { timeout: 5_000 });
    await aliceTab.trpc.presence.view.mutate({ module: 'jobs', recordId: job.id });
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual(['Alice Anders']), { timeout: 5_000 });

    const typedAt = Date.now();
    await aliceTab.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'notes' });
    await vi.waitFor(() => expect(bobWatches.typing()).toEqual(['Alice Anders:notes:true']), { timeout: 5_000 });
    await vi.waitFor(() => expect(bobWatches.typing()).toEqual(['Alice Anders:notes:true', 'Alice Anders:notes:false']), { timeout: 6_000 });
    expect(Date.now() - typedAt).toBeGreaterThanOrEqual(2_900);

    await aliceTab.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'title' });
    await aliceTab.trpc.typing.stop.mutate({ module: 'jobs', recordId: job.id, field: 'title' });
    await vi.waitFor(() => expect(bobWatches.typing().slice(2)).toEqual(['Alice Anders:title:true', 'Alice Anders:title:false']), { timeout: 5_000 });

    await aliceTab.close();
    await vi.waitFor(() => expect(bobWatches.viewers()).toEqual([]), { timeout: 5_000 });
    // Globex watched the same id all along and saw only its own (empty) viewer list.
    expect(carolWatches.activity.every((a) => a.type === 'viewers' && a.viewers.length === 0)).toBe(true);
    bobWatches.stop();
    carolWatches.stop();
  }, 20_000);

  it('rate limits typing and viewing messages per connection', async () => {
    const client = await t.client('carol@globex.test');
    const job = await client.trpc.jobs.create.mutate({ title: 'Typed at' });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 110 }, () => client.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'title' })),
    );
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(refused.length).toBeGreaterThanOrEqual(10);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ data: { code: 'TOO_MANY_REQUESTS', retryAfterMs: expect.any(Number) } });
    expect(String((refused[0] as PromiseRejectedResult).reason.message)).toMatch(/realtime/);
  });
});

describe('presence over HTTP', () => {
  it('keeps an HTTP-only client present by its heartbeats, and drops that presence once a socket opens', async () => {
    const { createHttpClient, createTandemClient } = await import('../src/client/trpc.ts');
    const WebSocket = (await import('ws')).default;
    const orgId = t.users['carol@globex.test'].orgId;
    const dave = await t.deps.db.user.create({ data: { orgId, email: 'dave@globex.test', name: 'Dave Dunn', passwordHash: 'unused', role: 'agent' } });
    const { token } = await t.deps.tokens.sign({ userId: dave.id, orgId });
    const present = () => t.deps.presence.list(orgId).some((entry) => entry.userId === dave.id);

    expect((await createHttpClient(t.server.url, () => token).presence.heartbeat.mutate({ active: true })).status).toBe('online');
    expect(present()).toBe(true);
    const socket = createTandemClient({ url: t.server.url, getToken: () => token, WebSocket: WebSocket as never });
    await vi.waitFor(() => expect(socket.connection.state).toBe('open'), { timeout: 5_000 });
    await socket.close();
    // Without the HTTP presence being dropped, Dave would stay for its 60 s lifetime.
    await vi.waitFor(() => expect(present()).toBe(false), { timeout: 5_000 });
  });
});
