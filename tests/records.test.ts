// biome-ignore-all lint/suspicious/noExplicitAny: records of the six modules through one generic caller; their fields are checked by the assertions
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_NAMES, type ModuleName } from '../src/shared/modules.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { validInputs } from './helpers/record-inputs.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** The same fields as `patch`, other values: what makes a stale update a real conflict. */
const conflictingPatch: Record<ModuleName, Record<string, unknown>> = {
  jobs: { status: 'cancelled' },
  escrows: { purchasePriceCents: 1 },
  listings: { status: 'sold', listPriceCents: 1 },
  clients: { phone: '+1 555 000 0000' },
  leads: { score: 1 },
  appointments: { location: 'Elsewhere' },
};

const defaultStatus: Record<ModuleName, [string, string]> = {
  jobs: ['status', 'new'],
  escrows: ['status', 'opened'],
  listings: ['status', 'coming_soon'],
  clients: ['kind', 'buyer'],
  leads: ['status', 'new'],
  appointments: ['status', 'scheduled'],
};

async function eventsOf(recordId: string) {
  return t.deps.db.event.findMany({ where: { recordId }, orderBy: { seq: 'asc' } });
}

async function rejection(promise: Promise<unknown>): Promise<TRPCError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TRPCError);
  return error as TRPCError;
}

describe.each(MODULE_NAMES)('%s', (name) => {
  it('creates, reads, lists, updates and deletes, writing one event per change', async () => {
    const alice = await t.caller('alice@acme.test');
    const api = alice[name] as any;
    const { create, patch } = validInputs[name];

    const created = await api.create(create);
    expect(created).toMatchObject({ version: 1, orgId: t.users['alice@acme.test'].orgId, createdById: t.users['alice@acme.test'].id });
    const [statusField, statusDefault] = defaultStatus[name];
    expect(created[statusField]).toBe(statusDefault);
    expect(await api.byId({ id: created.id })).toEqual(created);
    expect((await api.list({})).items.map((item: { id: string }) => item.id)).toContain(created.id);

    const updated = await api.update({ id: created.id, expectedVersion: 1, patch });
    expect(updated.version).toBe(2);
    for (const [field, value] of Object.entries(patch)) expect(updated[field]).toEqual(value);

    expect(await api.delete({ id: created.id, expectedVersion: 2 })).toEqual({ id: created.id });
    expect((await rejection(api.byId({ id: created.id }))).code).toBe('NOT_FOUND');

    const events = await eventsOf(created.id);
    expect(events.map((event) => [event.action, event.version])).toEqual([
      ['created', 1],
      ['updated', 2],
      ['deleted', 3],
    ]);
    expect(events[0]!.data).toEqual(created);
    const changes = events[1]!.data as Record<string, { from: unknown; to: unknown }>;
    for (const [field, value] of Object.entries(patch)) expect(changes[field]).toEqual({ from: created[field] ?? null, to: value });
    expect(events[2]!.data).toEqual(updated);
  });

  it('rejects invalid input with field errors and changes nothing', async () => {
    const alice = await t.caller('alice@acme.test');
    const api = alice[name] as any;
    const before = await t.deps.db.event.count();
    const error = await rejection(api.create({ ...validInputs[name].create, unknownField: 1, [defaultStatus[name][0]]: 'bogus' }));
    expect(error.code).toBe('BAD_REQUEST');
    const shape = (error.cause as unknown as { issues: { path: PropertyKey[] }[] }).issues.map((issue) => issue.path.join('.'));
    expect(shape).toContain(defaultStatus[name][0]);
    expect(await t.deps.db.event.count()).toBe(before);
  });

  it('answers CONFLICT with the current record on a stale version, and writes no event', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const created = await (alice[name] as any).create(validInputs[name].create);
    const bobs = await (bob[name] as any).update({ id: created.id, expectedVersion: 1, patch: validInputs[name].patch });
    const error = await rejection((alice[name] as any).update({ id: created.id, expectedVersion: 1, patch: conflictingPatch[name] }));
    expect(error.code).toBe('CONFLICT');
    expect((error.cause as unknown as { current: unknown }).current).toEqual(bobs);
    expect((await rejection((alice[name] as any).delete({ id: created.id, expectedVersion: 1 }))).code).toBe('CONFLICT');
    expect((await eventsOf(created.id)).length).toBe(2);
  });

  it("never shows or changes another org's record", async () => {
    const alice = await t.caller('alice@acme.test');
    const carol = await t.caller('carol@globex.test');
    const created = await (alice[name] as any).create(validInputs[name].create);
    const api = carol[name] as any;
    expect((await rejection(api.byId({ id: created.id }))).code).toBe('NOT_FOUND');
    expect((await rejection(api.update({ id: created.id, expectedVersion: 1, patch: validInputs[name].patch }))).code).toBe('NOT_FOUND');
    expect((await rejection(api.delete({ id: created.id }))).code).toBe('NOT_FOUND');
    expect((await api.list({ limit: 200 })).items.map((item: { id: string }) => item.id)).not.toContain(created.id);
    expect((await (alice[name] as any).byId({ id: created.id })).version).toBe(1);
    expect((await eventsOf(created.id)).length).toBe(1);
  });
});

describe('records', () => {
  it('paginates newest first with a stable cursor, searches and filters by status', async () => {
    const alice = await t.caller('alice@acme.test');
    const titles = Array.from({ length: 7 }, (_, i) => `Paging job ${i}`);
    for (const title of titles) await alice.jobs.create({ title, status: title.endsWith('3') ? 'done' : 'new' });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await alice.jobs.list({ limit: 3, search: 'PAGING', ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((job) => job.title));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    // Pages put together are the list read at once (the cursor is stable), and that list is newest first.
    // Jobs created within one millisecond tie on createdAt and follow their ids, so creation order is not the check.
    const atOnce = (await alice.jobs.list({ limit: 200, search: 'PAGING' })).items;
    expect(seen).toEqual(atOnce.map((job) => job.title));
    expect([...seen].sort()).toEqual([...titles].sort());
    const times = atOnce.map((job) => Date.parse(job.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const done = await alice.jobs.list({ search: 'paging', status: 'done' });
    expect(done.items.map((job) => job.title)).toEqual(['Paging job 3']);
    expect((await rejection(alice.jobs.list({ cursor: 'not-a-cursor' }))).code).toBe('BAD_REQUEST');
  });

  it('searches for %, _ and \\ literally, not as LIKE wildcards', async () => {
    const alice = await t.caller('alice@acme.test');
    const titles = ['Lit 100% done', 'Lit 1000 done', 'Lit a_b', 'Lit axb', 'Lit c\\d', 'Lit cd'];
    for (const title of titles) await alice.jobs.create({ title });
    const found = async (search: string) => (await alice.jobs.list({ search })).items.map((job) => job.title).sort();
    expect(await found('100%')).toEqual(['Lit 100% done']);
    expect(await found('lit 100% D')).toEqual(['Lit 100% done']);
    expect(await found('a_b')).toEqual(['Lit a_b']);
    expect(await found('c\\d')).toEqual(['Lit c\\d']);
    expect(await found('%')).toEqual(['Lit 100% done']);
    expect((await found('Lit ')).length).toBe(titles.length);
  });

  it('refuses references to records of another org or that do not exist', async () => {
    const alice = await t.caller('alice@acme.test');
    const carol = await t.caller('carol@globex.test');
    const globexClient = await carol.clients.create({ firstName: 'Gus', lastName: 'Globex' });
    const before = await t.deps.db.event.count();
    const error = await rejection(alice.jobs.create({ title: 'Sneaky', clientId: globexClient.id }));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/clientId/);
    expect((await rejection(alice.jobs.create({ title: 'Sneaky', assigneeId: t.users['carol@globex.test'].id }))).code).toBe('BAD_REQUEST');
    const job = await alice.jobs.create({ title: 'Fine', assigneeId: t.users['bob@acme.test'].id });
    expect(job.assigneeId).toBe(t.users['bob@acme.test'].id);
    expect(await t.deps.db.event.count()).toBe(before + 1);
  });

  it('checks rules across fields on create and on the merged state of an update', async () => {
    const alice = await t.caller('alice@acme.test');
    const input = { title: 'Backwards', startsAt: '2026-12-02T11:00:00Z', endsAt: '2026-12-02T10:00:00Z' };
    expect((await rejection(alice.appointments.create(input))).code).toBe('BAD_REQUEST');
    const ok = await alice.appointments.create({ ...input, endsAt: '2026-12-02T12:00:00Z' });
    const error = await rejection(alice.appointments.update({ id: ok.id, expectedVersion: 1, patch: { endsAt: '2026-12-02T09:00:00Z' } }));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/endsAt/);
  });

  it('treats a patch that changes nothing as no change: same version, no event', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Same', scheduledAt: '2026-12-01T10:00:00Z' });
    const same = await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { title: 'Same', scheduledAt: '2026-12-01T11:00:00+01:00' } });
    expect(same.version).toBe(1);
    expect((await eventsOf(job.id)).length).toBe(1);
  });

  it('rejects an empty patch and unknown ids clearly', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Patch me' });
    expect((await rejection(alice.jobs.update({ id: job.id, expectedVersion: 1, patch: {} }))).code).toBe('BAD_REQUEST');
    expect((await rejection(alice.jobs.update({ id: 'nope', expectedVersion: 1, patch: { title: 'x' } }))).code).toBe('NOT_FOUND');
    expect((await rejection(alice.jobs.delete({ id: 'nope' }))).code).toBe('NOT_FOUND');
  });
});
