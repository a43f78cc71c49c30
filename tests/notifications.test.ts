import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ResyncSignal } from '../src/shared/events.ts';
import type { Notification, NotificationsRead } from '../src/shared/notifications.ts';
import { startProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

describe('notifications', () => {
  it('are raised with the change that causes them, for the assignee only, and not for taking a job yourself', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const bobId = t.users['bob@acme.test'].id;
    const job = await alice.jobs.create({ title: 'Fix the gate', assigneeId: bobId });
    await bob.jobs.create({ title: 'Mine anyway', assigneeId: bobId });
    const other = await alice.jobs.create({ title: 'Later' });
    await alice.jobs.update({ id: other.id, expectedVersion: 1, patch: { assigneeId: bobId } });
    // A failed change raises nothing.
    await expect(bob.jobs.update({ id: other.id, expectedVersion: 1, patch: { assigneeId: t.users['alice@acme.test'].id } })).rejects.toMatchObject({ code: 'CONFLICT' });

    const list = await bob.notifications.list();
    expect(list.unread).toBe(2);
    expect(list.items.map((item) => [item.kind, item.title, item.recordId])).toEqual([
      ['job_assigned', 'Job assigned to you: Later', other.id],
      ['job_assigned', 'Job assigned to you: Fix the gate', job.id],
    ]);
    expect((await alice.notifications.list()).items).toEqual([]);
  });

  it('are marked read by their owner only', async () => {
    const bob = await t.caller('bob@acme.test');
    const carol = await t.caller('carol@globex.test');
    const [first] = (await bob.notifications.list()).items;
    expect((await carol.notifications.markRead({ ids: [first!.id] })).marked).toBe(0);
    expect(await bob.notifications.markRead({ ids: [first!.id] })).toEqual({ marked: 1, unread: 1 });
    expect((await bob.notifications.list({ unreadOnly: true })).items.map((item) => item.id)).not.toContain(first!.id);
    expect(await bob.notifications.markRead({ all: true })).toEqual({ marked: 1, unread: 0 });
  });

  it('reach the user live, and a resume delivers the ones raised while away', async () => {
    const alice = await t.caller('alice@acme.test');
    const bobId = t.users['bob@acme.test'].id;
    const client = await t.client('bob@acme.test');
    const seen: (Notification | NotificationsRead | ResyncSignal)[] = [];
    let lastId: string | undefined;
    let started = false;
    const subscription = client.trpc.notifications.onNew.subscribe(undefined, {
      onStarted: () => (started = true),
      onData: ({ id, data }) => {
        lastId = id;
        seen.push(data);
      },
    });
    await vi.waitFor(() => expect(started).toBe(true), { timeout: 5_000 });
    const live = await alice.jobs.create({ title: 'Live one', assigneeId: bobId });
    await vi.waitFor(() => expect(seen).toMatchObject([{ kind: 'job_assigned', recordId: live.id }]), { timeout: 2_000 });
    subscription.unsubscribe();

    const missed = await alice.jobs.create({ title: 'While away', assigneeId: bobId });
    await alice.jobs.create({ title: 'Not for Bob' });
    const resumed: (Notification | NotificationsRead | ResyncSignal)[] = [];
    const again = client.trpc.notifications.onNew.subscribe({ lastEventId: lastId }, { onData: ({ data }) => resumed.push(data) });
    await vi.waitFor(() => expect(resumed).toMatchObject([{ kind: 'job_assigned', recordId: missed.id, title: 'Job assigned to you: While away' }]), {
      timeout: 5_000,
    });
    again.unsubscribe();
  });

  it('reach the user by polling while the WebSocket is refused, and over it again once it opens, each once', async () => {
    await using proxy = await startProxy(t.server);
    proxy.setMode('no-websocket');
    const alice = await t.caller('alice@acme.test');
    const bobId = t.users['bob@acme.test'].id;
    const client = await t.client('bob@acme.test', { url: proxy.url });
    const seen: Notification[] = [];
    const reads: NotificationsRead[] = [];
    const subscription = client.trpc.notifications.onNew.subscribe(undefined, {
      onData: ({ data }) => {
        if ('kind' in data) seen.push(data);
        else if (data.type === 'NOTIFICATIONS_READ') reads.push(data);
      },
    });
    await vi.waitFor(() => expect(client.connection.state).toBe('fallback-polling'), { timeout: 5_000 });
    const polled = await alice.jobs.create({ title: 'Polled', assigneeId: bobId });
    await vi.waitFor(() => expect(seen.map((note) => note.recordId)).toEqual([polled.id]), { timeout: 5_000 });
    // Read in another tab: this one hears of it, by polling too.
    const otherTab = await t.caller('bob@acme.test');
    const { unread } = await otherTab.notifications.markRead({ ids: [seen[0]!.id] });
    await vi.waitFor(() => expect(reads).toMatchObject([{ ids: [seen[0]!.id], unread }]), { timeout: 5_000 });
    proxy.setMode('pass');
    await vi.waitFor(() => expect(client.connection.state).toBe('open'), { timeout: 10_000 });
    const live = await alice.jobs.create({ title: 'Live again', assigneeId: bobId });
    await vi.waitFor(() => expect(seen.map((note) => note.recordId)).toEqual([polled.id, live.id]), { timeout: 5_000 });
    await otherTab.notifications.markRead({ all: true });
    await vi.waitFor(() => expect(reads.at(-1)).toMatchObject({ type: 'NOTIFICATIONS_READ', ids: null, unread: 0 }), { timeout: 5_000 });
    expect(reads).toHaveLength(2);
    // Nobody else hears of Bob's reads.
    const alices = await alice.notifications.since({ lastEventId: '0' });
    expect(alices.events.every((item) => !('type' in item))).toBe(true);
    subscription.unsubscribe();
  });
});
