// biome-ignore-all lint/suspicious/noExplicitAny: records of the six modules through one generic caller; their fields are checked by the assertions
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneExpired } from '../src/server/events/retention.ts';
import { CONVERSATION_HISTORY_ACTIONS } from '../src/shared/history.ts';
import { MODULE_NAMES } from '../src/shared/modules.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { validInputs } from './helpers/record-inputs.ts';

// On PGlite, PostgreSQL and two nodes (databaseSuites).

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ perModule: 1 });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

const DAY = 24 * 3_600_000;

describe('M.history', () => {
  it.each(MODULE_NAMES)('%s: every change, newest first, with who, when, each field from and to', async (name) => {
    const alice = (await t.caller('alice@acme.test')) as any;
    const bob = (await t.caller('bob@acme.test')) as any;
    const { create, patch } = validInputs[name];
    const created = await alice[name].create(create);
    const updated = await bob[name].update({ id: created.id, expectedVersion: created.version, patch });
    const { items, nextCursor } = await bob[name].history({ id: created.id });
    expect(nextCursor).toBeNull();
    expect(items.map((item: any) => [item.action, item.version, item.userId])).toEqual([
      ['updated', 2, t.users['bob@acme.test'].id],
      ['created', 1, t.users['alice@acme.test'].id],
    ]);
    const expected = Object.fromEntries(Object.keys(patch).map((field) => [field, { from: created[field], to: updated[field] }]));
    expect(items[0].changes).toEqual(expected);
    expect(items[0].timestamp).toBe(updated.updatedAt);
    // A creation lists what was set, from nothing; bookkeeping fields are not changes anyone made.
    for (const field of Object.keys(create)) expect(items[1].changes[field]).toEqual({ from: null, to: created[field] });
    expect(Object.keys(items[1].changes)).not.toContain('version');
    expect(Object.keys(items[0].changes)).not.toContain('updatedAt');
  });

  it("pages from newest to oldest, and answers another org's record as a missing one", async () => {
    const alice = await t.caller('alice@acme.test');
    const lead = await alice.leads.create({ name: 'Paged Lead', source: 'Web' });
    let version = lead.version;
    for (let score = 1; score <= 5; score++) version = (await alice.leads.update({ id: lead.id, expectedVersion: version, patch: { score } })).version;
    const first = await alice.leads.history({ id: lead.id, limit: 4 });
    expect(first.items.map((item) => item.version)).toEqual([6, 5, 4, 3]);
    const second = await alice.leads.history({ id: lead.id, limit: 4, cursor: first.nextCursor! });
    expect(second.items.map((item) => item.version)).toEqual([2, 1]);
    expect(second.nextCursor).toBeNull();

    const carol = await t.caller('carol@globex.test');
    await expect(carol.leads.history({ id: lead.id })).rejects.toMatchObject({ code: 'NOT_FOUND', message: `No lead with id ${lead.id}` });
    await expect(alice.leads.history({ id: 'no-such-lead' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(alice.leads.history({ id: lead.id, limit: 101 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('says when an edit was merged over a colleague’s change to another field', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const client = await alice.clients.create({ firstName: 'Merge', lastName: 'Me' });
    await alice.clients.update({ id: client.id, expectedVersion: 1, patch: { email: 'merge@example.com' } });
    await bob.clients.update({ id: client.id, expectedVersion: 1, patch: { phone: '+1 555 222 3333' } });
    const [latest] = (await bob.clients.history({ id: client.id })).items;
    expect(latest).toMatchObject({ action: 'updated', version: 3, mergedFromVersion: 1, changes: { phone: { from: null, to: '+1 555 222 3333' } } });
  });

  it('says when an edit kept its author’s value over a colleague’s change after a conflict, in the log and in the history', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const lead = await alice.leads.create({ name: 'Contested', source: 'Web' });
    const theirs = await alice.leads.update({ id: lead.id, expectedVersion: 1, patch: { source: 'Referral' } });
    await expect(bob.leads.update({ id: lead.id, expectedVersion: 1, patch: { source: 'Walk-in' } })).rejects.toMatchObject({ code: 'CONFLICT' });
    // Bob chooses his value, knowing Alice's change (version 2) is replaced.
    const mine = await bob.leads.update({ id: lead.id, expectedVersion: theirs.version, patch: { source: 'Walk-in' }, overridesVersion: theirs.version });
    const [latest, replaced] = (await alice.leads.history({ id: lead.id })).items;
    expect(latest).toMatchObject({ version: mine.version, overridesVersion: 2, mergedFromVersion: null, changes: { source: { from: 'Referral', to: 'Walk-in' } } });
    expect(replaced).toMatchObject({ version: 2, overridesVersion: null });
    // The event says so to whoever follows the record, as read back from the log.
    const { events } = await alice.events.since({ lastEventId: String(replaced!.seq), recordId: lead.id });
    expect(events).toEqual([expect.objectContaining({ type: 'LEAD_UPDATED', version: mine.version, overridesVersion: 2 })]);
    // A version the record never had is refused, and changes nothing.
    await expect(bob.leads.update({ id: lead.id, expectedVersion: mine.version, patch: { source: 'Ad' }, overridesVersion: mine.version + 1 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: `overridesVersion: The lead has no version ${mine.version + 1} yet`,
    });
    expect((await alice.leads.byId({ id: lead.id })).source).toBe('Walk-in');
  });

  it("outlives the event log's retention (a resume from before it still resyncs), and goes after HISTORY_RETENTION_DAYS", async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Kept in history' });
    await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { status: 'scheduled' } });
    // An event that is not a record change: the log's, not the history's.
    await alice.conversations.start({ channel: 'sms', phone: '+15550004242', body: 'Your technician is on the way' });
    const org = t.users['alice@acme.test'].orgId;
    const before = await alice.jobs.history({ id: job.id });
    // A month later, with a week of log and a year of history: the log is pruned, the history is not.
    const monthLater = new Date(Date.now() + 30 * DAY);
    await pruneExpired(t.deps.db, { eventRetentionMs: 7 * DAY, idempotencyTtlMs: DAY, historyRetentionMs: 365 * DAY, now: monthLater });
    expect(await alice.jobs.history({ id: job.id })).toEqual(before);
    const state = await t.deps.db.eventLogState.findUniqueOrThrow({ where: { orgId: org } });
    expect(state.prunedThroughSeq).toBeGreaterThan(0);
    // Only record changes (and conversations' own) stay: the org's other events (messages, notifications…) are gone.
    const left = await t.deps.db.event.findMany({ where: { orgId: org, seq: { lte: state.prunedThroughSeq }, module: { notIn: [...MODULE_NAMES] } }, select: { action: true } });
    expect(left.map((event) => event.action).filter((action) => !(CONVERSATION_HISTORY_ACTIONS as readonly string[]).includes(action))).toEqual([]);
    const since = await alice.events.since({ lastEventId: '1', limit: 10 });
    expect(since.events).toEqual([]);
    expect(since.resync).toMatchObject({ reason: 'retention_exceeded' });

    // Past the history's own retention, it goes too.
    await pruneExpired(t.deps.db, { eventRetentionMs: 7 * DAY, idempotencyTtlMs: DAY, historyRetentionMs: 365 * DAY, now: new Date(Date.now() + 400 * DAY) });
    expect((await alice.jobs.history({ id: job.id })).items).toEqual([]);
  });
});

describe('deleted records', () => {
  it('an admin finds a deleted record as it was, reads its history, and restores it once, under its id, with a restored event', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const listing = await alice.listings.create({ address: '9 Restore Row', beds: 2, baths: 1 });
    const changed = await bob.listings.update({ id: listing.id, expectedVersion: 1, patch: { listPriceCents: 350_000_00 } });
    await bob.listings.delete({ id: listing.id });
    await expect(alice.listings.byId({ id: listing.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const { items } = await alice.listings.deleted({ limit: 50 });
    const found = items.find((item) => item.id === listing.id)!;
    expect(found).toMatchObject({ deletedById: t.users['bob@acme.test'].id, record: { address: '9 Restore Row', listPriceCents: 350_000_00, version: 2 } });
    expect((await alice.listings.history({ id: listing.id })).items.map((item) => item.action)).toEqual(['deleted', 'updated', 'created']);
    // Agents and other orgs do not see them.
    await expect(bob.listings.deleted({ limit: 50 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const carol = await t.caller('carol@globex.test');
    expect((await carol.listings.deleted({ limit: 50 })).items.map((item) => item.id)).not.toContain(listing.id);
    await expect(carol.listings.restore({ id: listing.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const key = `restore-${Date.now()}`;
    const restored = await alice.listings.restore({ id: listing.id, idempotencyKey: key });
    expect(restored).toMatchObject({ id: listing.id, address: '9 Restore Row', listPriceCents: 350_000_00, version: 4, createdAt: listing.createdAt });
    expect(await alice.listings.restore({ id: listing.id, idempotencyKey: key })).toEqual(restored);
    await expect(alice.listings.restore({ id: listing.id })).rejects.toMatchObject({ code: 'CONFLICT', message: 'This listing is not deleted' });
    expect(await alice.listings.byId({ id: listing.id })).toEqual(restored);
    expect((await alice.listings.deleted({ limit: 50 })).items.map((item) => item.id)).not.toContain(listing.id);
    const history = (await alice.listings.history({ id: listing.id })).items;
    expect(history.map((item) => [item.action, item.version, item.userId])).toEqual([
      ['restored', 4, t.users['alice@acme.test'].id],
      ['deleted', 3, t.users['bob@acme.test'].id],
      ['updated', 2, t.users['bob@acme.test'].id],
      ['created', 1, t.users['alice@acme.test'].id],
    ]);
    const events = await alice.events.since({ lastEventId: String(history[1]!.seq), recordId: listing.id, limit: 10 });
    expect(events.events.at(-1)).toMatchObject({ action: 'restored', type: 'LISTING_RESTORED', version: 4, data: { address: '9 Restore Row' } });
    // It goes on as any record.
    expect((await bob.listings.update({ id: listing.id, expectedVersion: 4, patch: { beds: 3 } })).version).toBe(5);
    expect(changed.version).toBe(2);
  });

  it('refuses to restore a record whose reference was deleted meanwhile, and says which', async () => {
    const alice = await t.caller('alice@acme.test');
    const client = await alice.clients.create({ firstName: 'Gone', lastName: 'Client' });
    const job = await alice.jobs.create({ title: 'For a gone client', clientId: client.id });
    await alice.jobs.delete({ id: job.id });
    await alice.clients.delete({ id: client.id });
    await expect(alice.jobs.restore({ id: job.id })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: `clientId: No client with id ${client.id}` });
    await alice.clients.restore({ id: client.id });
    expect(await alice.jobs.restore({ id: job.id })).toMatchObject({ id: job.id, clientId: client.id });
  });
});

describe('conversations.history', () => {
  it('says who opened, assigned, closed and reopened a conversation, and outlives the log; another org gets NOT_FOUND', async () => {
    const alice = await t.caller('alice@acme.test');
    const [aliceId, bobId] = [t.users['alice@acme.test'].id, t.users['bob@acme.test'].id];
    const { conversation } = await alice.conversations.start({ channel: 'sms', phone: '+15550009911', body: 'Hello' });
    await alice.conversations.assign({ id: conversation.id, assigneeId: bobId });
    await alice.conversations.close({ id: conversation.id });
    await alice.messages.send({ conversationId: conversation.id, body: 'Reopened by a reply' });
    const { items } = await alice.conversations.history({ id: conversation.id });
    expect(items.map((item) => [item.action, item.userId, item.changes])).toEqual([
      ['updated', aliceId, { status: { from: 'open', to: 'closed' } }],
      ['updated', aliceId, { assigneeId: { from: aliceId, to: bobId } }],
      ['created', aliceId, expect.objectContaining({ status: { from: null, to: 'open' }, assigneeId: { from: null, to: aliceId } })],
    ]);
    const pruned = await pruneExpired(t.deps.db, { eventRetentionMs: 7 * DAY, idempotencyTtlMs: DAY, historyRetentionMs: 365 * DAY, now: new Date(Date.now() + 30 * DAY) });
    expect(pruned.events).toBeGreaterThan(0);
    expect((await alice.conversations.history({ id: conversation.id })).items).toEqual(items);
    await expect((await t.caller('carol@globex.test')).conversations.history({ id: conversation.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
