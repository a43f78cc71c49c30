import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIdempotencyKey } from '../../src/client/link/request.ts';
import { OfflineQueue, QueuedOffline } from '../../src/client/web/offline/queue.ts';
import { openOfflineStore, type PendingChange } from '../../src/client/web/offline/store.ts';
import type { CachedRecord } from '../../src/client/web/realtime/patch.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The device's queue of field edits (offline/queue.ts) over IndexedDB (fake-indexeddb, the
// same API as the browser's), sending to the real server through a real tRPC client.

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
});

let users = 0;
/** A queue of its own database, as one browser profile of one user has. */
async function queueFor(options: { userId?: string; online: () => boolean; send?: (change: PendingChange, version: number) => Promise<CachedRecord> }) {
  const client = await t.client('bob@acme.test');
  const userId = options.userId ?? `user-${++users}`;
  const store = await openOfflineStore(userId);
  const sent: PendingChange[] = [];
  let changes: PendingChange[] = [];
  const queue = new OfflineQueue({
    store,
    send:
      options.send ??
      ((change, expectedVersion) => {
        sent.push(change);
        return client.trpc.jobs.update.mutate({
          id: change.recordId,
          expectedVersion,
          patch: { [change.field]: change.value },
          idempotencyKey: change.idempotencyKey,
        }) as Promise<CachedRecord>;
      }),
    online: options.online,
    onChanges: (next) => (changes = [...next]),
    newKey: newIdempotencyKey,
  });
  await queue.load();
  return { queue, store, sent, userId, client, changes: () => changes };
}

const edit = (job: { id: string; version: number }, field: string, value: unknown, fromValue: unknown = null) => ({
  module: 'jobs' as const,
  recordId: job.id,
  field,
  value,
  fromValue,
  fromVersion: job.version,
});

describe('the offline queue', () => {
  it('online, sends an edit at once and keeps nothing', async () => {
    const job = await (await t.caller('alice@acme.test')).jobs.create({ title: 'Online' });
    const { queue, store } = await queueFor({ online: () => true });
    const record = await queue.submit(edit(job, 'notes', 'Sent now'));
    expect(record).toMatchObject({ id: job.id, version: 2, notes: 'Sent now' });
    expect(await store.all()).toEqual([]);
  });

  it('offline, keeps edits across a reload and sends them once, in order, when the connection is back', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Offline' });
    let online = false;
    const first = await queueFor({ online: () => online });
    await expect(first.queue.submit(edit(job, 'notes', 'one'))).rejects.toBeInstanceOf(QueuedOffline);
    await expect(first.queue.submit(edit(job, 'estimatedHours', 2))).rejects.toBeInstanceOf(QueuedOffline);
    await expect(first.queue.submit(edit(job, 'notes', 'two', 'one'))).rejects.toBeInstanceOf(QueuedOffline);
    expect(first.changes().map((change) => [change.field, change.value, change.state])).toEqual([
      ['notes', 'one', 'waiting'],
      ['estimatedHours', 2, 'waiting'],
      ['notes', 'two', 'waiting'],
    ]);
    first.store.close();

    // The page reloads: a new queue over the same database finds them, keys and all.
    const reloaded = await queueFor({ userId: first.userId, online: () => online });
    expect(reloaded.changes().map((change) => change.idempotencyKey)).toEqual(first.changes().map((change) => change.idempotencyKey));
    online = true;
    await reloaded.queue.flush();
    expect(reloaded.sent.map((change) => [change.field, change.value])).toEqual([
      ['notes', 'one'],
      ['estimatedHours', 2],
      ['notes', 'two'],
    ]);
    expect(await reloaded.store.all()).toEqual([]);
    const now = await alice.jobs.byId({ id: job.id });
    expect(now).toMatchObject({ version: 4, notes: 'two', estimatedHours: 2 });
    const history = (await alice.jobs.history({ id: job.id })).items;
    expect(history.map((item) => Object.keys(item.changes))).toEqual([['notes'], ['estimatedHours'], ['notes'], expect.any(Array)]);
  });

  it('sends an edit whose answer was lost again with its key: the server applies it once', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Lost answer' });
    const client = await t.client('bob@acme.test');
    let calls = 0;
    const { queue, store } = await queueFor({
      online: () => true,
      async send(change, expectedVersion) {
        calls += 1;
        const record = await client.trpc.jobs.update.mutate({
          id: change.recordId,
          expectedVersion,
          patch: { [change.field]: change.value },
          idempotencyKey: change.idempotencyKey,
        });
        // The first time, the answer never reaches the page (the network dropped after the server committed).
        if (calls === 1) throw new Error('fetch failed');
        return record as CachedRecord;
      },
    });
    await expect(queue.submit(edit(job, 'notes', 'once'))).rejects.toBeInstanceOf(QueuedOffline);
    expect((await store.all()).length).toBe(1);
    await queue.flush();
    expect(calls).toBe(2);
    expect(await store.all()).toEqual([]);
    expect(await alice.jobs.byId({ id: job.id })).toMatchObject({ version: 2, notes: 'once' });
    expect((await alice.jobs.history({ id: job.id })).items).toHaveLength(2);
  });

  it('marks an edit that lands on a field someone changed meanwhile: keep theirs, or send mine over their version', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Contested' });
    let online = false;
    const { queue, changes, store } = await queueFor({ online: () => online });
    await expect(queue.submit(edit(job, 'title', 'Mine', 'Contested'))).rejects.toBeInstanceOf(QueuedOffline);
    await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { title: 'Theirs' } });
    online = true;
    await queue.flush();
    expect(changes()).toMatchObject([{ state: 'conflict', value: 'Mine', theirs: 'Theirs', theirVersion: 2, theirBy: t.users['alice@acme.test'].id }]);
    expect((await alice.jobs.byId({ id: job.id })).title).toBe('Theirs');
    await queue.saveMine(changes()[0]!.seq);
    await queue.flush();
    expect(changes()).toEqual([]);
    expect(await alice.jobs.byId({ id: job.id })).toMatchObject({ title: 'Mine', version: 3 });
    expect(await store.all()).toEqual([]);
  });

  it('keeps a refused edit, marked with the reason, until it is discarded', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Deleted meanwhile' });
    let online = false;
    const { queue, changes } = await queueFor({ online: () => online });
    await expect(queue.submit(edit(job, 'notes', 'Too late'))).rejects.toBeInstanceOf(QueuedOffline);
    await alice.jobs.delete({ id: job.id });
    online = true;
    await queue.flush();
    expect(changes()).toMatchObject([{ state: 'refused', reason: `No job with id ${job.id}` }]);
    await queue.discard(changes()[0]!.seq);
    expect(changes()).toEqual([]);
  });
});
