import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient, createTandemClient, type TandemClient } from '../src/client/trpc.ts';
import type { RunningServer } from '../src/server/app.ts';
import { pendingExpiryWatches } from '../src/server/events/expiry.ts';
import type { StreamItem } from '../src/shared/events.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * Server-side sessions: what a token names. Logout, a password change and a user removed
 * from the database end sessions on open WebSockets within a second (on the other node in
 * the `multinode` project); refresh never goes past a session's absolute lifetime.
 */
let t: TestServer;
let otherServer: RunningServer;
const clients: TandemClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  otherServer = t.servers.at(-1)!;
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await t[Symbol.asyncDispose]();
});

const http = (token: string, server: RunningServer = t.servers[0]!) => createHttpClient(server.url, () => token);
const login = (email: string, password = 'demo1234') => http('').auth.login.mutate({ email, password });

async function connect(token: string, server: RunningServer) {
  const client = createTandemClient({ url: server.url, getToken: () => token, WebSocket: WebSocket as never, retryDelayMs: () => 60_000 });
  clients.push(client);
  await vi.waitFor(() => expect(client.connection.state).toBe('open'), { timeout: 5_000 });
  return client;
}

/** An open WebSocket of `token` on the other node with `events.onAny` and `presence.onChange` running. */
async function openSession(token: string) {
  const client = await connect(token, otherServer);
  const errors: string[] = [];
  const items: StreamItem[] = [];
  let started = 0;
  const onError = (error: { data?: { code?: string } | null | undefined }) => errors.push(error.data?.code ?? 'unknown');
  client.trpc.events.onAny.subscribe({}, { onStarted: () => (started += 1), onData: ({ data }) => items.push(data), onError });
  client.trpc.presence.onChange.subscribe(undefined, { onStarted: () => (started += 1), onError });
  await vi.waitFor(() => expect(started).toBe(2), { timeout: 5_000 });
  return { client, errors, items };
}

/** Within a second: calls and refresh refused with UNAUTHORIZED, both subscriptions ended with UNAUTHORIZED, the socket still open. */
async function expectEnded(session: Awaited<ReturnType<typeof openSession>>) {
  await vi.waitFor(() => expect(session.errors).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED']), { timeout: 1_000 });
  await expect(session.client.trpc.jobs.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  await expect(session.client.trpc.jobs.create.mutate({ title: 'Not any more' })).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  await expect(session.client.trpc.auth.refresh.mutate()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  expect(session.client.connection.state).toBe('open');
}

describe('sessions', () => {
  it('logout revokes the session: refused over HTTP at once and on open WebSockets within a second; other sessions go on', async () => {
    const first = await login('bob@acme.test');
    const second = await login('bob@acme.test');
    const open = await openSession(first.token);
    const other = await openSession(second.token);
    const watches = pendingExpiryWatches();

    expect(await http(first.token).auth.logout.mutate()).toEqual({ ok: true });
    // On the node that revoked it at once (no 5 s cache); on another as soon as its notice arrives.
    await expect(http(first.token).auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    await vi.waitFor(() => expect(http(first.token, otherServer).auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } }), {
      timeout: 1_000,
    });
    await expectEnded(open);
    // The ended subscriptions left no watch behind.
    expect(pendingExpiryWatches()).toBeLessThanOrEqual(watches - 2);
    // A new connection with it is refused.
    const refused = createTandemClient({ url: otherServer.url, getToken: () => first.token, WebSocket: WebSocket as never, retryDelayMs: () => 60_000 });
    clients.push(refused);
    await expect(refused.trpc.auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });

    expect((await other.client.trpc.auth.me.query()).email).toBe('bob@acme.test');
    await other.client.trpc.jobs.create.mutate({ title: 'Still here' });
    await vi.waitFor(() => expect(other.items.some((item) => item.type !== 'RESYNC' && item.module === 'jobs')).toBe(true), { timeout: 2_000 });
    expect(other.errors).toEqual([]);
    // Logging out over the WebSocket ends that connection's session too.
    await other.client.trpc.auth.logout.mutate();
    await expectEnded(other);
  });

  it('a session has an absolute lifetime: tokens are never refreshed past it', async () => {
    const signedIn = await login('alice@acme.test');
    const row = await t.deps.db.session.findFirstOrThrow({ orderBy: { createdAt: 'desc' }, where: { userId: t.users['alice@acme.test'].id } });
    // SESSION_MAX_AGE_DAYS: 30 by default.
    expect(row.expiresAt.getTime() - Date.now()).toBeGreaterThan(30 * 86_400_000 - 60_000);

    // Near the end of its lifetime, a refresh gives a token that ends with the session, not an hour later.
    const end = Date.now() + 5_000;
    await t.deps.db.session.update({ where: { id: row.id }, data: { expiresAt: new Date(end) } });
    const refreshed = await http(signedIn.token).auth.refresh.mutate();
    expect(Date.parse(refreshed.expiresAt)).toBeLessThanOrEqual(end);
    expect((await t.deps.db.session.findUniqueOrThrow({ where: { id: row.id } })).lastUsedAt).not.toBeNull();

    // Past it, refresh is refused: only a new sign-in goes on.
    await t.deps.db.session.update({ where: { id: row.id }, data: { expiresAt: new Date(Date.now() + 500) } });
    await expect(http(refreshed.token).auth.refresh.mutate()).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
      message: expect.stringMatching(/maximum age/),
    });
  });

  it("changePassword checks the current one, then revokes the user's other sessions and keeps this one", async () => {
    const elsewhere = await login('carol@globex.test');
    const here = await login('carol@globex.test');
    const open = await openSession(elsewhere.token);
    const carol = http(here.token);

    await expect(carol.auth.changePassword.mutate({ currentPassword: 'demo1234', newPassword: 'short' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST', zodError: { fieldErrors: { newPassword: expect.any(Array) } } },
    });
    await expect(carol.auth.changePassword.mutate({ currentPassword: 'wrong-one', newPassword: 'a-new-password' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringMatching(/current password/),
    });
    expect(open.errors).toEqual([]);

    expect(await carol.auth.changePassword.mutate({ currentPassword: 'demo1234', newPassword: 'a-new-password' })).toMatchObject({
      ok: true,
      signedOutSessions: expect.any(Number),
    });
    await expectEnded(open);
    expect((await carol.auth.me.query()).email).toBe('carol@globex.test');
    await expect(login('carol@globex.test')).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    expect((await login('carol@globex.test', 'a-new-password')).user.email).toBe('carol@globex.test');

    // Guessing the current password is limited.
    for (let attempt = 0; attempt < 5; attempt++) {
      await expect(carol.auth.changePassword.mutate({ currentPassword: `guess-${attempt}`, newPassword: 'another-password' })).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST' },
      });
    }
    await expect(carol.auth.changePassword.mutate({ currentPassword: 'a-new-password', newPassword: 'another-password' })).rejects.toMatchObject({
      data: { code: 'TOO_MANY_REQUESTS' },
    });
  });

  it('guesses of the current password in one batch are counted one by one: five are checked, the rest refused', async () => {
    // One client: the guesses go out as one HTTP batch.
    const alice = http(await t.tokenFor('alice@acme.test'));
    const guesses = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => alice.auth.changePassword.mutate({ currentPassword: `guess-${i}`, newPassword: 'another-password' })),
    );
    const codes = guesses.map((guess) => (guess.status === 'rejected' ? (guess.reason as { data?: { code?: string; retryAfterMs?: number } }).data : undefined));
    expect(codes.filter((data) => data?.code === 'BAD_REQUEST')).toHaveLength(5);
    const refused = codes.filter((data) => data?.code === 'TOO_MANY_REQUESTS');
    expect(refused).toHaveLength(15);
    expect(refused.every((data) => (data?.retryAfterMs ?? 0) > 0)).toBe(true);
  });

  it('a user deleted in the database is refused on open WebSockets within a second', async () => {
    const orgId = t.users['alice@acme.test'].orgId;
    const dave = await t.deps.db.user.create({ data: { orgId, email: 'dave@acme.test', name: 'Dave Doe', passwordHash: 'unused', role: 'admin' } });
    const { token } = await t.deps.sessions.signIn(dave);
    const open = await openSession(token);
    await open.client.trpc.webhooks.settings.query();

    // No API call, no notice: each node's periodic check of its live sessions (SESSION_CHECK_MS) sees it.
    await t.deps.db.user.delete({ where: { id: dave.id } });
    await expectEnded(open);
    await expect(open.client.trpc.webhooks.rotateSecret.mutate()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  });

  it('leaves nothing behind: once the sockets close, no node follows a session', async () => {
    await openSession((await login('bob@acme.test')).token);
    const live = () => t.apps.reduce((sum, app) => sum + app.deps.sessions.liveCount(), 0);
    expect(live()).toBeGreaterThan(0);
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await vi.waitFor(() => expect(live()).toBe(0), { timeout: 5_000 });
  });
});
