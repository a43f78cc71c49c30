import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../src/shared/events.ts';
import { modules } from '../src/shared/modules.ts';
import { readEventsAfter } from '../src/server/events/log.ts';
import { commitInOneStatement } from '../src/server/events/commit-statement.ts';
import { recordStatement, updateRecordIfChanged } from '../src/server/records/statements.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

/**
 * Most record changes are written in one statement (src/server/events/commit-statement.ts)
 * rather than in a transaction: what they return, publish and log must be exactly what
 * reads back, for every column type of every module. commit-strategies.test.ts compares
 * both strategies change by change.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** The events the bus publishes for the org while `run` runs. */
async function published<T>(orgId: string, run: () => Promise<T>): Promise<{ result: T; events: LogEvent[] }> {
  const controller = new AbortController();
  const app = t.apps[0]!;
  const subscription = app.deps.bus.subscribe(orgId, { signal: controller.signal });
  const result = await run();
  const events: LogEvent[] = [];
  // What was published is queued by now, in the same process (or fetched from Redis on the way).
  for (;;) {
    const next = await Promise.race([subscription.next(), new Promise<null>((resolve) => setTimeout(() => resolve(null), 1_000))]);
    if (!next || next.done) break;
    events.push(next.value);
    if (events.some((event) => (event as { recordId?: string }).recordId === (result as { id?: string }).id)) break;
  }
  controller.abort();
  return { result, events };
}

async function logged(orgId: string, recordId: string): Promise<LogEvent[]> {
  const events = await readEventsAfter(t.apps[0]!.deps.db, { orgId, afterSeq: 0, recordId, limit: 100 });
  return events;
}

describe('record changes written in one statement', () => {
  it('return, publish and log each module’s record exactly as it reads back', async () => {
    const alice = await t.caller('alice@acme.test');
    const orgId = t.users['alice@acme.test'].orgId;
    const created = {
      listings: await alice.listings.create({ address: '1 Elm St', mlsNumber: 'ML-1', listPriceCents: 123_456_789_012, status: 'active', beds: 3, baths: 2.5, sqft: 1800 }),
      clients: await alice.clients.create({ firstName: 'Ann', lastName: 'Lee', email: 'ann@example.com', phone: '+15550100', kind: 'buyer', notes: 'Line "one"\nline two' }),
      leads: await alice.leads.create({ name: 'Lea', email: null, source: 'web', status: 'contacted', score: 42 }),
      jobs: await alice.jobs.create({ title: 'Fix roof', status: 'scheduled', scheduledAt: '2026-12-01T09:30:00.125+02:00', estimatedHours: 2.75, notes: null }),
      appointments: await alice.appointments.create({
        title: 'Viewing',
        startsAt: '2026-12-02T10:00:00Z',
        endsAt: '2026-12-02T11:00:00.5Z',
        location: 'Office',
        reminderMinutes: 30,
      }),
    };
    for (const [name, record] of Object.entries(created)) {
      const readBack = await (alice[name as keyof typeof created] as { byId(input: { id: string }): Promise<unknown> }).byId({ id: record.id });
      expect(record).toEqual(readBack);
      const [event] = await logged(orgId, record.id);
      expect(event).toMatchObject({ module: name, action: 'created', recordId: record.id, version: 1, userId: t.users['alice@acme.test'].id, orgId });
      expect(event!.data).toEqual(record);
    }
    // Timestamps keep their milliseconds and are UTC, as toISOString writes them.
    expect(created.jobs).toMatchObject({ scheduledAt: '2026-12-01T07:30:00.125Z' });
    expect(created.appointments).toMatchObject({ endsAt: '2026-12-02T11:00:00.500Z' });
    expect(created.listings).toMatchObject({ listPriceCents: 123_456_789_012, baths: 2.5 });
  });

  it('publish what the log holds, chained to the org’s previous event', async () => {
    const bob = await t.caller('bob@acme.test');
    const orgId = t.users['bob@acme.test'].orgId;
    const first = await bob.leads.create({ name: 'Chain one' });
    // In a time zone other than UTC too: `timestamp` columns hold UTC, whatever the process's zone.
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    const { result: lead, events } = await published(orgId, () => bob.leads.create({ name: 'Chain two', idempotencyKey: 'one-statement-chain-1' })).finally(() => {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    });
    const live = events.find((event) => event.recordId === lead.id)!;
    const [fromLog] = await logged(orgId, lead.id);
    expect(live).toEqual(fromLog);
    expect(Math.abs(Date.parse(live.timestamp) - Date.now())).toBeLessThan(60_000);
    const [firstEvent] = await logged(orgId, first.id);
    expect(live.seq).toBeGreaterThan(firstEvent!.seq);
    const prevSeq = await t.apps[0]!.deps.db.event.findUniqueOrThrow({ where: { seq: live.seq }, select: { prevSeq: true } });
    const before = await t.apps[0]!.deps.db.event.findFirstOrThrow({ where: { orgId, seq: { lt: live.seq } }, orderBy: { seq: 'desc' } });
    expect(prevSeq.prevSeq).toBe(before.seq);
  });

  it('log an update’s changed fields, who and when, as the general path does', async () => {
    const alice = await t.caller('alice@acme.test');
    const orgId = t.users['alice@acme.test'].orgId;
    const listing = await alice.listings.create({ address: '2 Oak St', listPriceCents: 50_000_000 });
    // Raising a price cannot raise an alert, but listings' updates may: the general path. A job's may not.
    const job = await alice.jobs.create({ title: 'Paint', scheduledAt: '2026-12-03T08:00:00Z', estimatedHours: 1 });
    const updated = await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { scheduledAt: '2026-12-04T08:00:00.250Z', estimatedHours: 1.5, title: 'Paint' } });
    expect(updated).toEqual(await alice.jobs.byId({ id: job.id }));
    expect(updated.version).toBe(2);
    const [, event] = await logged(orgId, job.id);
    expect(event).toMatchObject({ action: 'updated', version: 2, recordId: job.id });
    expect(event!.data).toEqual({
      scheduledAt: { from: '2026-12-03T08:00:00.000Z', to: '2026-12-04T08:00:00.250Z' },
      estimatedHours: { from: 1, to: 1.5 },
      updatedAt: { from: job.updatedAt, to: updated.updatedAt },
    });
    // A rule across fields (appointments) is checked on the record the patch would leave.
    const meeting = await alice.appointments.create({ title: 'Walk-through', startsAt: '2026-12-05T10:00:00Z', endsAt: '2026-12-05T11:00:00Z' });
    await expect(alice.appointments.update({ id: meeting.id, expectedVersion: 1, patch: { endsAt: '2026-12-05T09:00:00Z' } })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const moved = await alice.appointments.update({ id: meeting.id, expectedVersion: 1, patch: { endsAt: '2026-12-05T12:00:00Z' } });
    expect(moved).toEqual(await alice.appointments.byId({ id: meeting.id }));
    expect((await logged(orgId, meeting.id)).map((event) => event.data)).toEqual([
      meeting,
      { endsAt: { from: '2026-12-05T11:00:00.000Z', to: '2026-12-05T12:00:00.000Z' }, updatedAt: { from: meeting.updatedAt, to: moved.updatedAt } },
    ]);
    const raised = await alice.listings.update({ id: listing.id, expectedVersion: 1, patch: { listPriceCents: 60_000_000 } });
    expect(raised).toMatchObject({ version: 2, listPriceCents: 60_000_000 });
  });

  it('write nothing when the record moved on since it was read', async () => {
    const alice = await t.caller('alice@acme.test');
    const user = t.users['alice@acme.test'];
    const lead = await alice.leads.create({ name: 'Moving' });
    await alice.leads.update({ id: lead.id, expectedVersion: 1, patch: { name: 'Moved' } });
    const { db } = t.apps[0]!.deps;
    const change = { action: 'updated' as const, userId: user.id, preview: {} };
    const bookkeeping = { updatedAt: new Date(), updatedById: user.id };
    const update = (version: number, name: string) =>
      recordStatement(db, modules.leads, change, updateRecordIfChanged({ id: lead.id, orgId: user.orgId, version }, { name }, bookkeeping));
    // Without reading first: a stale version, and a patch that changes nothing, write nothing either.
    expect(await commitInOneStatement(db, user.orgId, await update(1, 'Stale'), undefined)).toBeUndefined();
    expect(await commitInOneStatement(db, user.orgId, await update(2, 'Moved'), undefined)).toBeUndefined();
    expect(await alice.leads.byId({ id: lead.id })).toMatchObject({ name: 'Moved', version: 2 });
    expect((await logged(user.orgId, lead.id)).map((event) => event.version)).toEqual([1, 2]);
  });

  it('keep the key with the record: a retry gets it back, another request with the key changes nothing', async () => {
    const carol = await t.caller('carol@globex.test');
    const orgId = t.users['carol@globex.test'].orgId;
    const first = await carol.clients.create({ firstName: 'Kay', lastName: 'One', idempotencyKey: 'one-statement-key-1' });
    expect(await carol.clients.create({ firstName: 'Kay', lastName: 'One', idempotencyKey: 'one-statement-key-1' })).toEqual(first);
    await expect(carol.clients.create({ firstName: 'Kay', lastName: 'Two', idempotencyKey: 'one-statement-key-1' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await t.apps[0]!.deps.db.client.count({ where: { orgId, firstName: 'Kay' } })).toBe(1);
    expect(await logged(orgId, first.id)).toHaveLength(1);
    const kept = await t.apps[0]!.deps.db.idempotencyKey.findFirstOrThrow({ where: { key: 'one-statement-key-1' } });
    expect(kept.result).toEqual(first);
  });
});
