import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from '../src/client/trpc.ts';
import { requireRecordOfOrg } from '../src/server/presence/records.ts';
import { PresenceService } from '../src/server/presence/service.ts';
import type { ConnectionInfo } from '../src/server/context.ts';
import type { Db } from '../src/server/db/client.ts';
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
  let error: unknown;
  const subscription = client.trpc.presence.onRecord.subscribe({ module, recordId }, { onData: ({ data }) => activity.push(data), onError: (cause) => (error = cause) });
  return {
    activity,
    error: () => error,
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
    await vi.waitFor(() => expect(carolWatches.error()).toMatchObject({ data: { code: 'NOT_FOUND' } }), { timeout: 5_000 });
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
    // Globex was refused the id and saw nothing of it.
    expect(carolWatches.activity).toEqual([]);
    bobWatches.stop();
    carolWatches.stop();
  }, 20_000);

  it('answers NOT_FOUND for a record or conversation of another org, or none, as byId does', async () => {
    const alice = await t.client('alice@acme.test');
    const carol = await t.client('carol@globex.test');
    await vi.waitFor(() => expect(carol.connection.state).toBe('open'), { timeout: 5_000 });
    const job = await alice.trpc.jobs.create.mutate({ title: 'Acme only' });
    const conversation = await alice.trpc.conversations.start.mutate({ phone: '+15550009999', body: 'Hello' });
    const refs = [
      { module: 'jobs' as const, recordId: job.id },
      { module: 'conversations' as const, recordId: conversation.conversation.id },
      { module: 'leads' as const, recordId: 'no-such-lead' },
    ];
    await expect(carol.trpc.jobs.byId.query({ id: job.id })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    for (const ref of refs) {
      for (const attempt of [
        carol.trpc.presence.view.mutate(ref),
        carol.trpc.presence.leave.mutate(ref),
        carol.trpc.typing.start.mutate({ ...ref, field: 'title' }),
        carol.trpc.typing.stop.mutate({ ...ref, field: 'title' }),
      ]) {
        await expect(attempt).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
      }
      const error = await new Promise((resolve) => {
        const subscription = carol.trpc.presence.onRecord.subscribe(ref, { onData: () => resolve('data'), onError: resolve });
        return () => subscription.unsubscribe();
      });
      expect(error).toMatchObject({ data: { code: 'NOT_FOUND' } });
    }
    const acmeKey = t.deps.presence.recordKey(t.users['carol@globex.test'].orgId, 'jobs', job.id);
    expect(t.deps.presence.viewers(acmeKey)).toEqual([]);
    // The org's own records still work, the conversation too; a record deleted while viewed can be left.
    expect((await alice.trpc.presence.view.mutate(refs[0]!)).viewers.map((viewer) => viewer.name)).toEqual(['Alice Anders']);
    await alice.trpc.typing.start.mutate({ ...refs[1]! });
    await alice.trpc.typing.stop.mutate({ ...refs[1]! });
    await alice.trpc.jobs.delete.mutate({ id: job.id });
    expect((await alice.trpc.presence.leave.mutate(refs[0]!)).viewers).toEqual([]);
  });

  it('rate limits typing and viewing messages per connection', async () => {
    const client = await t.client('carol@globex.test');
    const job = await client.trpc.jobs.create.mutate({ title: 'Typed at' });
    const outcomes = await Promise.allSettled(Array.from({ length: 110 }, () => client.trpc.typing.start.mutate({ module: 'jobs', recordId: job.id, field: 'title' })));
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(refused.length).toBeGreaterThanOrEqual(10);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ data: { code: 'TOO_MANY_REQUESTS', retryAfterMs: expect.any(Number) } });
    expect(String((refused[0] as PromiseRejectedResult).reason.message)).toMatch(/realtime/);
  });
});

describe('the record check of presence and typing', () => {
  it('asks the database once per record and connection, by id and org, the id only', async () => {
    const findFirst = vi.fn(async ({ where }: { where: { id: string } }) => (where.id === 'job-1' || where.id === 'conv-1' ? { id: where.id } : null));
    const db = { job: { findFirst }, conversation: { findFirst } } as unknown as Db;
    const connection: ConnectionInfo = { id: 'ws-test-1', subscriptions: 0 };
    const ctx = { db, connection, user: { orgId: 'org-a' } };
    for (let i = 0; i < 5; i++) await requireRecordOfOrg(ctx, 'jobs', 'job-1');
    await requireRecordOfOrg(ctx, 'conversations', 'conv-1');
    expect(findFirst.mock.calls.map(([args]) => args)).toEqual([
      { where: { id: 'job-1', orgId: 'org-a' }, select: { id: true } },
      { where: { id: 'conv-1', orgId: 'org-a' }, select: { id: true } },
    ]);
    // Not found is not remembered: asked again each time, NOT_FOUND each time.
    for (let i = 0; i < 2; i++) await expect(requireRecordOfOrg(ctx, 'jobs', 'job-2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(findFirst).toHaveBeenCalledTimes(4);
    // Another connection checks for itself.
    await requireRecordOfOrg({ ...ctx, connection: { id: 'ws-test-2', subscriptions: 0 } }, 'jobs', 'job-1');
    expect(findFirst).toHaveBeenCalledTimes(5);
  });
});

describe('presence over HTTP', () => {
  it('keeps an HTTP-only client present by its heartbeats, and drops that presence once a socket opens', async () => {
    const { createHttpClient, createTandemClient } = await import('../src/client/trpc.ts');
    const WebSocket = (await import('ws')).default;
    const orgId = t.users['carol@globex.test'].orgId;
    const dave = await t.deps.db.user.create({ data: { orgId, email: 'dave@globex.test', name: 'Dave Dunn', passwordHash: 'unused', role: 'agent' } });
    const { token } = await t.deps.sessions.signIn(dave);
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

describe('presence merged from several nodes (the replica interface, without Redis)', () => {
  const acme = { orgId: 'org-acme', orgName: 'Acme', role: 'agent' as const };
  const aliceUser = { ...acme, id: 'u-alice', email: 'alice@acme.test', name: 'Alice Anders' };
  const bobUser = { ...acme, id: 'u-bob', email: 'bob@acme.test', name: 'Bob Brooks' };
  const carolUser = { orgId: 'org-globex', orgName: 'Globex', role: 'admin' as const, id: 'u-carol', email: 'carol@globex.test', name: 'Carol Chen' };

  /** Two nodes whose replicas hand each change straight to the other. */
  function twoNodes() {
    const [a, b] = [new PresenceService(), new PresenceService()];
    const shared: number[] = [0, 0];
    for (const [i, from, to] of [[0, a, b] as const, [1, b, a] as const]) {
      from.replicate({
        localChanged: (orgId, userId) => {
          shared[i]! += 1;
          to.applyRemote(from.nodeId, orgId, userId, from.localState(orgId, userId));
        },
        close: async () => to.dropNode(from.nodeId),
      });
    }
    return {
      a,
      b,
      shared,
      async [Symbol.asyncDispose]() {
        await Promise.all([a.close(), b.close()]);
      },
    };
  }

  function record<T extends PresenceEntry | RecordActivity>(service: PresenceService, topic: string) {
    const seen: T[] = [];
    const abort = new AbortController();
    void (async () => {
      for await (const item of service.topics.subscribe(topic, { signal: abort.signal })) seen.push(item as T);
    })();
    return { seen, stop: () => abort.abort() };
  }

  it('is one entry per user across nodes, online until the last connection on any node closes, and never crosses orgs', async () => {
    await using nodes = twoNodes();
    const { a, b } = nodes;
    const onB = record<PresenceEntry>(b, b.orgTopic(acme.orgId));
    a.connect('a1', aliceUser);
    b.connect('b1', aliceUser);
    b.connect('b2', carolUser);
    await vi.waitFor(() => expect(onB.seen).toHaveLength(1));
    expect(b.list(acme.orgId).map((entry) => `${entry.name}:${entry.status}`)).toEqual(['Alice Anders:online']);
    expect(a.list(carolUser.orgId).map((entry) => entry.name)).toEqual(['Carol Chen']);
    expect(a.nodesOf(acme.orgId, aliceUser.id).sort()).toEqual([a.nodeId, b.nodeId].sort());
    a.disconnect('a1');
    expect(b.list(acme.orgId)).toHaveLength(1);
    b.disconnect('b1');
    await vi.waitFor(() => expect(onB.seen.map((entry) => entry.status)).toEqual(['online', 'offline']));
    expect([...a.list(acme.orgId), ...b.list(acme.orgId)]).toEqual([]);
    onB.stop();
  });

  it('merges viewers and typing per user over nodes, and a dropped node takes its marks with it', async () => {
    await using nodes = twoNodes();
    const { a, b } = nodes;
    const key = b.recordKey(acme.orgId, 'jobs', 'job-1');
    const onB = record<RecordActivity>(b, b.recordTopic(key));
    a.connect('a1', aliceUser);
    expect(a.view('a1', aliceUser, 'jobs', 'job-1')).toEqual([{ userId: aliceUser.id, name: 'Alice Anders' }]);
    b.connect('b1', bobUser);
    b.connect('b2', aliceUser);
    b.view('b2', aliceUser, 'jobs', 'job-1'); // alice again, from node B: no change to announce
    expect(b.view('b1', bobUser, 'jobs', 'job-1').map((viewer) => viewer.name)).toEqual(['Alice Anders', 'Bob Brooks']);
    a.startTyping('a1', aliceUser, 'jobs', 'job-1', 'notes');
    expect(b.typers(key, 'jobs', 'job-1')).toEqual([
      { type: 'typing', module: 'jobs', recordId: 'job-1', userId: aliceUser.id, name: 'Alice Anders', field: 'notes', typing: true },
    ]);
    // Globex asking about the same id sees nothing of Acme's.
    expect(b.viewers(b.recordKey(carolUser.orgId, 'jobs', 'job-1'))).toEqual([]);

    b.dropNode(a.nodeId);
    expect(b.typers(key, 'jobs', 'job-1')).toEqual([]);
    expect(b.viewers(key).map((viewer) => viewer.name)).toEqual(['Alice Anders', 'Bob Brooks']);
    b.disconnect('b2');
    await vi.waitFor(() =>
      expect(onB.seen.map((item) => (item.type === 'viewers' ? item.viewers.map((viewer) => viewer.name).join('+') : `${item.field}:${item.typing}`))).toEqual([
        'Alice Anders',
        'Alice Anders+Bob Brooks',
        'notes:true',
        'notes:false',
        'Bob Brooks',
      ]),
    );
    onB.stop();
  });

  it('takes the latest activity of any node for idle, replaces a node’s rows wholesale, and shares bare activity only now and then', async () => {
    await using nodes = twoNodes();
    const { a, b, shared } = nodes;
    const state = (lastActiveAt: number) => ({ name: 'Bob Brooks', lastActiveAt, viewing: [], typing: [] });
    b.applyRemote('node-x', acme.orgId, bobUser.id, state(Date.now() - 10 * 60_000));
    expect(b.list(acme.orgId).map((entry) => entry.status)).toEqual(['idle']);
    b.applyRemote('node-x', acme.orgId, bobUser.id, state(Date.now()));
    expect(b.list(acme.orgId).map((entry) => entry.status)).toEqual(['online']);
    b.replaceNode('node-x', [[acme.orgId, aliceUser.id, { ...state(Date.now()), name: 'Alice Anders' }]]);
    expect(b.list(acme.orgId).map((entry) => entry.name)).toEqual(['Alice Anders']);
    expect(b.remoteNodes()).toContain('node-x');
    b.dropNode('node-x');
    expect(b.list(acme.orgId)).toEqual([]);
    b.applyRemote(b.nodeId, acme.orgId, bobUser.id, state(Date.now())); // its own rows come only from its connections
    expect(b.list(acme.orgId)).toEqual([]);

    a.connect('a1', aliceUser);
    const before = shared[0];
    for (let i = 0; i < 5; i++) a.heartbeat('a1', aliceUser, true);
    expect(shared[0]).toBe(before);
    expect(b.list(acme.orgId).map((entry) => entry.status)).toEqual(['online']);
  });
});
