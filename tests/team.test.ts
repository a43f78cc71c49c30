import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient, createTandemClient, type TandemClient } from '../src/client/trpc.ts';
import type { RunningServer } from '../src/server/app.ts';
import { MAX_USERS_PAGE } from '../src/shared/auth.ts';
import type { StreamItem } from '../src/shared/events.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * Team administration: invitations, roles, deactivation, and how fast a change reaches
 * the open WebSockets of the user, on whichever node they are. The periodic check of
 * live sessions is off here (an hour), so what ends or demotes a session within a second
 * is the notice (in process, or through Redis to the other node in the `multinode` project).
 */
let t: TestServer;
/** Where the admin acts (the first node) and where the affected user is connected (the other node when there are two). */
let adminServer: RunningServer;
let userServer: RunningServer;
const clients: TandemClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ config: { SESSION_CHECK_MS: 3_600_000, PUBLIC_URL: 'https://crm.example.test/' } });
  adminServer = t.servers[0]!;
  userServer = t.servers.at(-1)!;
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await t[Symbol.asyncDispose]();
});

const http = (token: string, server = adminServer) => createHttpClient(server.url, () => token);

/** A client over the WebSocket of `server`, open before it is returned. */
async function connect(token: string, server: RunningServer) {
  const client = createTandemClient({ url: server.url, getToken: () => token, WebSocket: WebSocket as never, retryDelayMs: () => 60_000 });
  clients.push(client);
  await vi.waitFor(() => expect(client.connection.state).toBe('open'), { timeout: 5_000 });
  return client;
}

function watchAny(client: TandemClient) {
  const items: StreamItem[] = [];
  const errors: { data?: { code?: string } | undefined; message: string }[] = [];
  let started = false;
  client.trpc.events.onAny.subscribe({}, { onStarted: () => (started = true), onData: ({ data }) => items.push(data), onError: (error) => errors.push(error as never) });
  return { items, errors, isStarted: () => started };
}

/** A new member of Acme through an invitation, signed in. */
async function invite(email: string, role: 'admin' | 'agent') {
  const alice = http(await t.tokenFor('alice@acme.test'));
  const invitation = await alice.users.invite.mutate({ email, role });
  const accepted = await http('').invitations.accept.mutate({ token: invitation.token, name: email.split('@')[0]!, password: 'secret-password' });
  return { invitation, ...accepted };
}

describe('roles', () => {
  it('a demoted admin is refused admin calls on an open WebSocket within a second, and keeps the rest', async () => {
    const dave = await invite('dave@acme.test', 'admin');
    expect(dave.user.role).toBe('admin');
    const socket = await connect(dave.token, userServer);
    await socket.trpc.webhooks.rotateSecret.mutate();

    const alice = http(await t.tokenFor('alice@acme.test'));
    expect((await alice.users.setRole.mutate({ userId: dave.user.id, role: 'agent' })).role).toBe('agent');
    await vi.waitFor(() => expect(socket.trpc.webhooks.rotateSecret.mutate()).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } }), { timeout: 1_000 });
    await expect(socket.trpc.users.setRole.mutate({ userId: t.users['bob@acme.test'].id, role: 'admin' })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    expect((await socket.trpc.auth.me.query()).role).toBe('agent');
    await socket.trpc.auth.refresh.mutate();
    expect(socket.connection.state).toBe('open');

    // And back: promoted, the same socket may again.
    await alice.users.setRole.mutate({ userId: dave.user.id, role: 'admin' });
    await vi.waitFor(() => expect(socket.trpc.webhooks.settings.query()).resolves.toMatchObject({ paths: expect.any(Object) }), { timeout: 1_000 });
  });

  it("only admins manage the team; an admin cannot demote or deactivate themselves; other orgs' users are not found", async () => {
    const bob = http(await t.tokenFor('bob@acme.test'));
    const alice = http(await t.tokenFor('alice@acme.test'));
    const aliceId = t.users['alice@acme.test'].id;
    await expect(bob.users.setRole.mutate({ userId: aliceId, role: 'agent' })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(bob.users.deactivate.mutate({ userId: aliceId })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(bob.users.invite.mutate({ email: 'x@acme.test', role: 'agent' })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(bob.users.invitations.query()).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });

    await expect(alice.users.setRole.mutate({ userId: aliceId, role: 'agent' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringMatching(/yourself/),
    });
    await expect(alice.users.deactivate.mutate({ userId: aliceId })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    const carolId = t.users['carol@globex.test'].id;
    await expect(alice.users.deactivate.mutate({ userId: carolId })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    await expect(alice.users.setRole.mutate({ userId: carolId, role: 'agent' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    await expect(alice.users.setRole.mutate({ userId: aliceId, role: 'owner' as never })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    // The last admin of Globex is its only admin: still one.
    expect((await http(await t.tokenFor('carol@globex.test')).users.list.query({})).items.filter((user) => user.role === 'admin')).toHaveLength(1);
  });
});

describe('deactivation', () => {
  it("ends the user's sessions on every open WebSocket within a second: calls and refresh refused, subscriptions end with UNAUTHORIZED", async () => {
    const erin = await invite('erin@acme.test', 'agent');
    const socket = await connect(erin.token, userServer);
    const stream = watchAny(socket);
    await vi.waitFor(() => expect(stream.isStarted()).toBe(true), { timeout: 5_000 });
    await socket.trpc.jobs.create.mutate({ title: 'Before' });

    const alice = http(await t.tokenFor('alice@acme.test'));
    const erinsPresence = async () => (await alice.presence.list.query()).find((entry) => entry.userId === erin.user.id)?.status ?? 'offline';
    await vi.waitFor(() => expect(erinsPresence()).resolves.toBe('online'), { timeout: 5_000 });
    expect(await alice.users.deactivate.mutate({ userId: erin.user.id })).toMatchObject({ active: false });
    await vi.waitFor(() => expect(stream.errors.map((error) => error.data?.code)).toEqual(['UNAUTHORIZED']), { timeout: 1_000 });
    // Her socket stays open, but she is no longer present.
    await vi.waitFor(() => expect(erinsPresence()).resolves.toBe('offline'), { timeout: 2_000 });
    await expect(socket.trpc.jobs.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    await expect(socket.trpc.jobs.create.mutate({ title: 'After' })).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    await expect(socket.trpc.auth.refresh.mutate()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    // Over HTTP at once, on either node, and no new sign-in.
    for (const server of t.servers) await expect(http(erin.token, server).auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    await expect(http('').auth.login.mutate({ email: 'erin@acme.test', password: 'secret-password' })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
      message: expect.stringMatching(/deactivated/),
    });
    const { items: listed } = await alice.users.list.query({});
    expect(listed.find((user) => user.id === erin.user.id)).toMatchObject({ active: false });

    // Reactivated: a new sign-in works, the old token stays refused.
    expect(await alice.users.reactivate.mutate({ userId: erin.user.id })).toMatchObject({ active: true });
    const again = await http('').auth.login.mutate({ email: 'erin@acme.test', password: 'secret-password' });
    expect((await http(again.token, userServer).auth.me.query()).id).toBe(erin.user.id);
    await expect(http(erin.token, userServer).auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  });
});

describe('invitations', () => {
  it("invites with a one-time link that signs the new member in with the invited role's rights", async () => {
    const alice = http(await t.tokenFor('alice@acme.test'));
    await expect(alice.users.invite.mutate({ email: 'Bob@acme.test', role: 'agent' })).rejects.toMatchObject({ data: { code: 'CONFLICT' } });
    await expect(alice.users.invite.mutate({ email: 'not-an-email', role: 'agent' })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });

    const invitation = await alice.users.invite.mutate({ email: 'Frank@acme.test', role: 'agent' });
    expect(invitation.inviteUrl).toBe(`https://crm.example.test/invite/${invitation.token}`);
    expect(Date.parse(invitation.expiresAt) - Date.now()).toBeGreaterThan(7 * 86_400_000 - 60_000);
    const pending = await alice.users.invitations.query();
    expect(pending.map((each) => [each.email, each.role])).toContainEqual(['frank@acme.test', 'agent']);
    // Only a hash is stored.
    expect(await t.deps.db.invitation.count({ where: { tokenHash: invitation.token } })).toBe(0);

    const anonymous = http('');
    await expect(anonymous.invitations.accept.mutate({ token: invitation.token, name: 'Frank', password: 'short' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
    });
    const frank = await anonymous.invitations.accept.mutate({ token: invitation.token, name: 'Frank Fox', password: 'long-enough' });
    expect(frank.user).toMatchObject({ email: 'frank@acme.test', name: 'Frank Fox', role: 'agent', orgId: t.users['alice@acme.test'].orgId });
    const asFrank = http(frank.token, userServer);
    expect((await asFrank.auth.me.query()).id).toBe(frank.user.id);
    await expect(asFrank.webhooks.rotateSecret.mutate()).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    expect((await asFrank.jobs.create.mutate({ title: 'Frank was here' })).createdById).toBe(frank.user.id);
    expect((await alice.users.invitations.query()).some((each) => each.email === 'frank@acme.test')).toBe(false);

    // Used once: nothing changes the second time.
    await expect(anonymous.invitations.accept.mutate({ token: invitation.token, name: 'Again', password: 'long-enough' })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
    });
    expect(await t.deps.db.user.count({ where: { email: 'frank@acme.test' } })).toBe(1);
    await expect(anonymous.invitations.accept.mutate({ token: 'x'.repeat(43), name: 'Nobody', password: 'long-enough' })).rejects.toMatchObject({
      data: { code: 'NOT_FOUND' },
    });
  });

  it('refuses an expired or revoked invitation and changes nothing', async () => {
    const alice = http(await t.tokenFor('alice@acme.test'));
    const anonymous = http('');
    const expired = await alice.users.invite.mutate({ email: 'gina@acme.test', role: 'admin' });
    await t.deps.db.invitation.updateMany({ where: { email: 'gina@acme.test' }, data: { expiresAt: new Date(Date.now() - 1_000) } });
    await expect(anonymous.invitations.accept.mutate({ token: expired.token, name: 'Gina', password: 'long-enough' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringMatching(/expired/),
    });
    expect((await alice.users.invitations.query()).some((each) => each.email === 'gina@acme.test')).toBe(false);

    const revoked = await alice.users.invite.mutate({ email: 'hank@acme.test', role: 'agent' });
    const id = (await alice.users.invitations.query()).find((each) => each.email === 'hank@acme.test')!.id;
    await expect(http(await t.tokenFor('carol@globex.test')).users.revokeInvitation.mutate({ id })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    await alice.users.revokeInvitation.mutate({ id });
    await expect(anonymous.invitations.accept.mutate({ token: revoked.token, name: 'Hank', password: 'long-enough' })).rejects.toMatchObject({
      data: { code: 'NOT_FOUND' },
    });
    expect(await t.deps.db.user.count({ where: { email: { in: ['gina@acme.test', 'hank@acme.test'] } } })).toBe(0);
  });
});

describe('what an attacker can make of invitations', () => {
  it('guesses of an invitation token are counted per address before any password is hashed, and locked out past the cap', async () => {
    await using own = await startTestServer({ config: { LOGIN_FAILURES_PER_ADDRESS: 5 } });
    const anonymous = createHttpClient(own.server.url, () => '');
    const guesses = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => anonymous.invitations.accept.mutate({ token: `guessed-token-${i}-aaaaaaaaaaaaaaaa`, name: 'Mallory', password: 'long-enough' })),
    );
    const codes = guesses.map((guess) => (guess.status === 'rejected' ? (guess.reason as { data?: { code?: string } }).data?.code : 'accepted'));
    expect(codes.filter((code) => code === 'NOT_FOUND')).toHaveLength(5);
    expect(codes.filter((code) => code === 'TOO_MANY_REQUESTS')).toHaveLength(3);
    // Locked: a good link from that address waits too.
    const alice = createHttpClient(own.server.url, () => '');
    const adminToken = await own.tokenFor('alice@acme.test');
    const { token } = await createHttpClient(own.server.url, () => adminToken).users.invite.mutate({ email: 'ivan@acme.test', role: 'agent' });
    await expect(alice.invitations.accept.mutate({ token, name: 'Ivan', password: 'long-enough' })).rejects.toMatchObject({ data: { code: 'TOO_MANY_REQUESTS' } });
    expect(await own.deps.db.user.count({ where: { email: 'ivan@acme.test' } })).toBe(0);
  });

  it('an org has at most 200 pending invitations, and the list of them is bounded by that', async () => {
    const alice = http(await t.tokenFor('alice@acme.test'));
    const orgId = t.users['alice@acme.test'].orgId;
    const pending = (await alice.users.invitations.query()).length;
    const expiresAt = new Date(Date.now() + 86_400_000);
    await t.deps.db.invitation.createMany({
      data: Array.from({ length: 199 - pending }, (_, i) => ({
        orgId,
        email: `bulk-${i}@acme.test`,
        role: 'agent',
        tokenHash: `bulk-hash-${i}`,
        invitedById: t.users['alice@acme.test'].id,
        expiresAt,
      })),
    });
    try {
      await alice.users.invite.mutate({ email: 'the-200th@acme.test', role: 'agent' });
      await expect(alice.users.invite.mutate({ email: 'one-too-many@acme.test', role: 'agent' })).rejects.toMatchObject({ data: { code: 'CONFLICT' } });
      expect(await alice.users.invitations.query()).toHaveLength(200);
    } finally {
      await t.deps.db.invitation.deleteMany({ where: { OR: [{ email: { startsWith: 'bulk-' } }, { email: 'the-200th@acme.test' }] } });
    }
  });
});

describe('the people list', () => {
  it('pages by name: pages put together are the whole org, each at most `limit`, and a page is never unbounded', async () => {
    for (const email of ['pia@acme.test', 'quinn@acme.test', 'rosa@acme.test']) await invite(email, 'agent');
    const alice = http(await t.tokenFor('alice@acme.test'));
    const whole = await alice.users.list.query({ limit: MAX_USERS_PAGE });
    expect(whole.nextCursor).toBeNull();
    expect(whole.items.length).toBeGreaterThanOrEqual(5);
    expect(whole.items.map((user) => user.name)).toEqual(whole.items.map((user) => user.name).sort());

    const paged: typeof whole.items = [];
    let cursor: string | undefined;
    do {
      const page = await alice.users.list.query({ limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(paged).toEqual(whole.items);

    expect((await alice.users.list.query({})).items.length).toBeLessThanOrEqual(50);
    await expect(alice.users.list.query({ limit: MAX_USERS_PAGE + 1 })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    await expect(alice.users.list.query({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    // Globex's admin sees Globex only.
    const carol = http(await t.tokenFor('carol@globex.test'));
    expect((await carol.users.list.query({})).items.map((user) => user.email)).not.toContain('alice@acme.test');
  });
});
