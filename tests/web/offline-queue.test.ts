import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIdempotencyKey } from '../../src/client/link/request.ts';
import { OfflineQueue, QueuedOffline } from '../../src/client/web/offline/queue.ts';
import { sendChange, type RecordCalls } from '../../src/client/web/offline/send.ts';
import { openOfflineStore, type PendingChange, type PendingEdit } from '../../src/client/web/offline/store.ts';
import type { CachedRecord } from '../../src/client/web/realtime/patch.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The device's queue of changes (offline/queue.ts: field edits, creates, deletes) over
// IndexedDB (fake-indexeddb, the same API as the browser's), sending to the real server
// through a real tRPC client and the calls the web app makes (offline/send.ts).

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
});

let users = 0;
/** A queue of its own database, as one browser profile of one user has. */
async function queueFor(options: {
  userId?: string;
  online: () => boolean;
  settled?: () => Promise<void>;
  /** Around the real call (`send`), e.g. to lose its answer. */
  around?: (change: PendingChange, send: () => Promise<CachedRecord | null>) => Promise<CachedRecord | null>;
}) {
  const client = await t.client('bob@acme.test');
  const calls = client.trpc as unknown as RecordCalls;
  const userId = options.userId ?? `user-${++users}`;
  const store = await openOfflineStore(userId);
  const sent: PendingChange[] = [];
  const landed: { change: PendingChange; record: CachedRecord | null }[] = [];
  let changes: PendingChange[] = [];
  const queue = new OfflineQueue({
    store,
    send: (change) => {
      sent.push(change);
      const send = () => sendChange(calls, change);
      return options.around ? options.around(change, send) : send();
    },
    online: options.online,
    ...(options.settled ? { settled: options.settled } : {}),
    onChanges: (next) => (changes = [...next]),
    onSent: (change, record) => landed.push({ change, record }),
    newKey: newIdempotencyKey,
  });
  await queue.load();
  return { queue, store, sent, landed, userId, client, changes: () => changes };
}

/** Sends for real, but the first answer never reaches the page: the server committed, then the network dropped. */
function losingFirstAnswer() {
  let calls = 0;
  return {
    calls: () => calls,
    async around(_change: PendingChange, send: () => Promise<CachedRecord | null>) {
      calls += 1;
      const record = await send();
      if (calls === 1) throw new Error('fetch failed');
      return record;
    },
  };
}

/** The field edits among kept or sent changes, in order. */
const edits = (changes: PendingChange[]) => changes.filter((change): change is PendingEdit => change.kind === 'edit');

/** Whether a job is still there, as the org's admin sees it. */
const jobExists = async (id: string) =>
  (await t.caller('alice@acme.test')).jobs.byId({ id }).then(
    () => true,
    (error: { code?: string }) => (error.code === 'NOT_FOUND' ? false : Promise.reject(error)),
  );

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

  it("waits for the page's first connection before calling a change offline: made while it is under way, it is answered once it opens", async () => {
    const job = await (await t.caller('alice@acme.test')).jobs.create({ title: 'Early' });
    let online = false;
    let open!: () => void;
    const firstAttempt = new Promise<void>((resolve) => (open = resolve));
    const { queue, store } = await queueFor({ online: () => online, settled: () => firstAttempt });
    const answer = queue.submit(edit(job, 'notes', 'Right after load'));
    // Kept while it waits.
    await expect.poll(async () => (await store.all()).length).toBe(1);
    online = true;
    open();
    expect(await answer).toMatchObject({ id: job.id, version: 2, notes: 'Right after load' });
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
    expect(edits(first.changes()).map((change) => [change.kind, change.field, change.value, change.state])).toEqual([
      ['edit', 'notes', 'one', 'waiting'],
      ['edit', 'estimatedHours', 2, 'waiting'],
      ['edit', 'notes', 'two', 'waiting'],
    ]);
    first.store.close();

    // The page reloads: a new queue over the same database finds them, keys and all.
    const reloaded = await queueFor({ userId: first.userId, online: () => online });
    expect(reloaded.changes().map((change) => change.idempotencyKey)).toEqual(first.changes().map((change) => change.idempotencyKey));
    online = true;
    await reloaded.queue.flush();
    expect(edits(reloaded.sent).map((change) => [change.field, change.value])).toEqual([
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
    const lossy = losingFirstAnswer();
    const { queue, store } = await queueFor({ online: () => true, around: lossy.around });
    await expect(queue.submit(edit(job, 'notes', 'once'))).rejects.toBeInstanceOf(QueuedOffline);
    expect((await store.all()).length).toBe(1);
    await queue.flush();
    expect(lossy.calls()).toBe(2);
    expect(await store.all()).toEqual([]);
    expect(await alice.jobs.byId({ id: job.id })).toMatchObject({ version: 2, notes: 'once' });
    expect((await alice.jobs.history({ id: job.id })).items).toHaveLength(2);
  });

  it('marks an edit that lands on a field someone changed meanwhile: keep theirs, or send mine over their version (which the history tells)', async () => {
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
    // The record's history says the choice: Bob's value kept over Alice's version 2.
    const [latest] = (await alice.jobs.history({ id: job.id })).items;
    expect(latest).toMatchObject({ version: 3, userId: t.users['bob@acme.test'].id, overridesVersion: 2, changes: { title: { from: 'Theirs', to: 'Mine' } } });
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

describe('creates and deletes kept offline', () => {
  it('online, creates at once and keeps nothing', async () => {
    const { queue, store } = await queueFor({ online: () => true });
    const record = await queue.create('jobs', { title: 'Created online' });
    expect(record).toMatchObject({ title: 'Created online', version: 1 });
    expect(await store.all()).toEqual([]);
  });

  it('keeps a create across a reload and, when its answer is lost, sends it again with its key: one record', async () => {
    const alice = await t.caller('alice@acme.test');
    const title = `Fix boiler ${newIdempotencyKey()}`;
    let online = false;
    const first = await queueFor({ online: () => online });
    await expect(first.queue.create('jobs', { title, estimatedHours: 2 })).rejects.toBeInstanceOf(QueuedOffline);
    expect(first.changes()).toMatchObject([{ kind: 'create', module: 'jobs', values: { title, estimatedHours: 2 }, state: 'waiting' }]);
    first.store.close();

    const lossy = losingFirstAnswer();
    const reloaded = await queueFor({ userId: first.userId, online: () => online, around: lossy.around });
    expect(reloaded.changes().map((change) => change.idempotencyKey)).toEqual(first.changes().map((change) => change.idempotencyKey));
    online = true;
    await reloaded.queue.flush();
    expect(lossy.calls()).toBe(1);
    expect(await reloaded.store.all()).toHaveLength(1);
    await reloaded.queue.flush();
    expect(lossy.calls()).toBe(2);
    expect(await reloaded.store.all()).toEqual([]);
    expect(reloaded.changes()).toEqual([]);
    const found = (await alice.jobs.list({ search: title, limit: 10 })).items;
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ title, estimatedHours: 2, createdById: t.users['bob@acme.test'].id });
    expect(reloaded.landed).toEqual([{ change: expect.objectContaining({ kind: 'create' }), record: expect.objectContaining({ id: found[0]!.id }) }]);
  });

  it('keeps a delete across a reload and sends it after the edits made before it', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Old shed' });
    let online = false;
    const first = await queueFor({ online: () => online });
    await expect(first.queue.submit(edit(job, 'notes', 'Last words'))).rejects.toBeInstanceOf(QueuedOffline);
    await expect(first.queue.delete({ module: 'jobs', recordId: job.id, fromVersion: 2, title: 'Old shed' })).rejects.toBeInstanceOf(QueuedOffline);
    first.store.close();

    const reloaded = await queueFor({ userId: first.userId, online: () => online });
    expect(reloaded.changes().map((change) => change.kind)).toEqual(['edit', 'delete']);
    online = true;
    await reloaded.queue.flush();
    expect(reloaded.sent.map((change) => change.kind)).toEqual(['edit', 'delete']);
    expect(reloaded.changes()).toEqual([]);
    expect(await reloaded.store.all()).toEqual([]);
    expect(await jobExists(job.id)).toBe(false);
    expect(reloaded.landed.at(-1)).toEqual({ change: expect.objectContaining({ kind: 'delete', recordId: job.id }), record: null });
    const history = (await alice.jobs.history({ id: job.id })).items;
    expect(history.map((item) => item.action)).toEqual(['deleted', 'updated', 'created']);
  });

  it('a delete of a record someone changed meanwhile asks: "delete anyway" deletes it over their version, "keep it" lets it be', async () => {
    const alice = await t.caller('alice@acme.test');
    const doomed = await alice.jobs.create({ title: 'Changed, deleted anyway' });
    const kept = await alice.jobs.create({ title: 'Changed, kept' });
    let online = false;
    const { queue, changes, store } = await queueFor({ online: () => online });
    for (const job of [doomed, kept]) {
      await expect(queue.delete({ module: 'jobs', recordId: job.id, fromVersion: job.version, title: String(job.title) })).rejects.toBeInstanceOf(QueuedOffline);
      await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { notes: 'Changed meanwhile' } });
    }
    online = true;
    await queue.flush();
    expect(changes()).toMatchObject([
      { kind: 'delete', recordId: doomed.id, state: 'conflict', theirVersion: 2, theirBy: t.users['alice@acme.test'].id },
      { kind: 'delete', recordId: kept.id, state: 'conflict', theirVersion: 2 },
    ]);
    expect(await jobExists(doomed.id)).toBe(true);
    const [anyway, keep] = changes();

    await queue.saveMine(anyway!.seq);
    expect(await jobExists(doomed.id)).toBe(false);
    // Sent again as a new change: its own key, over the version that was there.
    expect(changes()).toEqual([keep]);

    await queue.discard(keep!.seq);
    expect(changes()).toEqual([]);
    expect(await store.all()).toEqual([]);
    expect(await alice.jobs.byId({ id: kept.id })).toMatchObject({ version: 2, notes: 'Changed meanwhile' });
  });

  it('a delete of a record someone already deleted counts as done, not as a refusal', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Deleted twice' });
    let online = false;
    const { queue, changes, landed } = await queueFor({ online: () => online });
    await expect(queue.delete({ module: 'jobs', recordId: job.id, fromVersion: 1, title: 'Deleted twice' })).rejects.toBeInstanceOf(QueuedOffline);
    await alice.jobs.delete({ id: job.id });
    online = true;
    await queue.flush();
    expect(changes()).toEqual([]);
    expect(landed).toEqual([{ change: expect.objectContaining({ kind: 'delete' }), record: null }]);
  });

  it('keeps a create the server refuses on landing, with its reason, across a reload, until it is discarded', async () => {
    const alice = await t.caller('alice@acme.test');
    const client = await alice.clients.create({ firstName: 'Gone', lastName: 'Meanwhile', kind: 'buyer' });
    let online = false;
    const first = await queueFor({ online: () => online });
    await expect(first.queue.create('jobs', { title: 'For a client deleted meanwhile', clientId: client.id })).rejects.toBeInstanceOf(QueuedOffline);
    await alice.clients.delete({ id: client.id });
    online = true;
    await first.queue.flush();
    expect(first.changes()).toMatchObject([{ kind: 'create', state: 'refused', reason: expect.stringContaining(`No client with id ${client.id}`) }]);
    first.store.close();

    // Never dropped silently: still there after a reload, and not sent again.
    const reloaded = await queueFor({ userId: first.userId, online: () => online });
    await reloaded.queue.flush();
    expect(reloaded.sent).toEqual([]);
    expect(reloaded.changes()).toMatchObject([{ kind: 'create', state: 'refused' }]);
    await reloaded.queue.discard(reloaded.changes()[0]!.seq);
    expect(reloaded.changes()).toEqual([]);
    expect(await reloaded.store.all()).toEqual([]);
    expect((await alice.jobs.list({ search: 'For a client deleted meanwhile', limit: 10 })).items).toEqual([]);
  });

  it('loads the field edits an older version stored (rows without `kind`) as edits, and sends them', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Stored before' });
    const userId = `user-${++users}`;
    // What the previous version wrote: the same database and store, rows without `kind`.
    const old = await openDB(`tandem-offline-${userId}`, 1, {
      upgrade(database) {
        database.createObjectStore('changes', { keyPath: 'seq', autoIncrement: true });
      },
    });
    await old.add('changes', {
      module: 'jobs',
      recordId: job.id,
      field: 'notes',
      value: 'From the old page',
      fromValue: null,
      fromVersion: 1,
      idempotencyKey: newIdempotencyKey(),
      state: 'waiting',
      createdAt: new Date().toISOString(),
    });
    old.close();

    let online = false;
    const { queue, changes } = await queueFor({ userId, online: () => online });
    expect(changes()).toMatchObject([{ kind: 'edit', field: 'notes', value: 'From the old page', state: 'waiting' }]);
    online = true;
    await queue.flush();
    expect(changes()).toEqual([]);
    expect(await alice.jobs.byId({ id: job.id })).toMatchObject({ version: 2, notes: 'From the old page' });
  });
});
