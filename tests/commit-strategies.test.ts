import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LogEvent } from '../src/shared/events.ts';
import { MODULE_NAMES, modules, type AnyModule, type ModuleName } from '../src/shared/modules.ts';
import type { CommitStrategy } from '../src/server/events/commit.ts';
import { readEventsAfter } from '../src/server/events/log.ts';
import { VersionConflict } from '../src/server/errors.ts';
import { createRecord, deleteRecord, updateRecord, type WriteOptions } from '../src/server/records/service.ts';
import { createTestApp, type DemoEmail, type TestApp } from './helpers/app.ts';

/**
 * `commitChange` writes a record change as one statement or in a transaction
 * (events/commit.ts). Whichever it takes, the record, its events and what a retry gets
 * back must be the same: every module's changes run here through each strategy in
 * turn, at the same clock, and what they leave is compared.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** Per module: what to create, and changes of three different fields (b twice, with different values). */
interface Script {
  create: Record<string, unknown>;
  a: Record<string, unknown>;
  b: [Record<string, unknown>, Record<string, unknown>];
  c: Record<string, unknown>;
}

// No references (they are checked in a transaction), no price drop nor escrow closing soon (alerts).
const scripts: Record<ModuleName, Script> = {
  jobs: {
    create: { title: 'Fix roof', status: 'scheduled', scheduledAt: '2030-12-01T09:30:00.125+02:00', estimatedHours: 2.75, notes: 'Line "one"\nline two' },
    a: { title: 'Fix the roof' },
    b: [{ scheduledAt: '2030-12-02T08:00:00Z' }, { scheduledAt: '2030-12-03T08:00:00.5Z' }],
    c: { estimatedHours: 3.5, notes: null },
  },
  escrows: {
    create: { propertyAddress: '1 Elm St', purchasePriceCents: 123_456_789_012, closingDate: '2030-06-01T00:00:00Z' },
    a: { escrowNumber: 'E-1' },
    b: [{ purchasePriceCents: 123_456_789_999 }, { purchasePriceCents: 1 }],
    c: { status: 'in_escrow', closingDate: '2030-07-01T12:00:00+01:00' },
  },
  listings: {
    create: { address: '2 Oak St', mlsNumber: 'ML-1', listPriceCents: 50_000_000, status: 'active', beds: 3, baths: 2.5, sqft: 1800 },
    a: { mlsNumber: 'ML-2' },
    b: [{ listPriceCents: 60_000_000 }, { listPriceCents: 70_000_000 }],
    c: { baths: 3, sqft: null },
  },
  clients: {
    create: { firstName: 'Ann', lastName: 'Lee', email: 'ann@example.com', phone: '+15550100', kind: 'buyer', notes: null },
    a: { lastName: 'Lee-Park' },
    b: [{ phone: '+15550101' }, { phone: '+15550102' }],
    c: { email: null, kind: 'both' },
  },
  leads: {
    create: { name: 'Lea', email: null, source: 'web', status: 'contacted', score: 42 },
    a: { score: 43 },
    b: [{ source: 'referral' }, { source: 'event' }],
    c: { status: 'qualified', email: 'lea@example.com' },
  },
  appointments: {
    create: { title: 'Viewing', startsAt: '2030-12-02T10:00:00Z', endsAt: '2030-12-02T11:00:00.5Z', location: 'Office', reminderMinutes: 30 },
    a: { title: 'Second viewing' },
    b: [{ location: 'On site' }, { location: 'Café' }],
    c: { endsAt: '2030-12-02T12:00:00Z', reminderMinutes: null },
  },
};

/** What one step left: its answer (or error) and the strategy that committed it (none when it failed). */
interface StepOutcome {
  step: string;
  answer: unknown;
  committedBy: 'one-statement' | 'general' | null;
}

interface Run {
  steps: StepOutcome[];
  recordId: string;
  /** The record's events in the log, and as the bus published them. */
  logged: LogEvent[];
  published: LogEvent[];
}

async function commitsByStrategy(): Promise<Record<string, number>> {
  const { values } = await t.deps.metrics.commits.get();
  return Object.fromEntries(values.map(({ labels, value }) => [String(labels.strategy), value]));
}

function answerOf(error: unknown) {
  const { code, message, cause } = error as { code?: string; message: string; cause?: unknown };
  return { error: code, message, ...(cause instanceof VersionConflict ? { current: cause.current, conflicts: cause.conflicts } : {}) };
}

/** Every step of one module's record through one strategy, each at a clock time of its own (the same in every run). */

/** The scripts are plain records, one shape for every module: the service's module-typed signatures, widened for them. */
const create = createRecord as unknown as (
  actor: Parameters<typeof createRecord>[0],
  module: AnyModule,
  input: Record<string, unknown>,
  options?: WriteOptions,
) => Promise<unknown>;
const update = updateRecord as unknown as (
  actor: Parameters<typeof updateRecord>[0],
  module: AnyModule,
  input: { id: string; expectedVersion: number; patch: Record<string, unknown> },
  options?: WriteOptions,
) => Promise<unknown>;

async function runScript(name: ModuleName, strategy: CommitStrategy): Promise<Run> {
  const module = modules[name];
  const script = scripts[name];
  const options: WriteOptions = { strategy };
  const actor = (email: DemoEmail, key?: string) => ({ deps: t.deps, user: t.users[email], idempotencyKey: key && `${strategy}-${name}-${key}` });
  const steps: StepOutcome[] = [];
  let clock = Date.parse('2030-01-01T00:00:00.000Z');
  const step = async <T>(label: string, run: () => Promise<T>): Promise<T | undefined> => {
    const before = await commitsByStrategy();
    clock += 1_001;
    vi.useFakeTimers({ toFake: ['Date'], now: clock });
    let answer: unknown;
    try {
      answer = await run();
    } catch (error) {
      answer = answerOf(error);
    } finally {
      vi.useRealTimers();
    }
    const after = await commitsByStrategy();
    const committedBy = (['one-statement', 'general'] as const).find((label) => (after[label] ?? 0) > (before[label] ?? 0)) ?? null;
    steps.push({ step: label, answer, committedBy });
    return answer as T;
  };

  const orgId = t.users['alice@acme.test'].orgId;
  const controller = new AbortController();
  const subscription = t.deps.bus.subscribe(orgId, { signal: controller.signal });
  const published: LogEvent[] = [];
  const reading = (async () => {
    for await (const event of subscription) published.push(event);
  })().catch(() => {});

  const created = (await step('create', () => create(actor('alice@acme.test', 'create'), module, script.create, options))) as { id: string };
  const id = created.id;
  await step('create again with its key', () => create(actor('alice@acme.test', 'create'), module, script.create, options));
  await step('its key for another request', () => create(actor('alice@acme.test', 'create'), module, { ...script.create, ...script.a }, options));
  await step('update', () => update(actor('alice@acme.test', 'update'), module, { id, expectedVersion: 1, patch: script.a }, options));
  await step('update again with its key', () => update(actor('alice@acme.test', 'update'), module, { id, expectedVersion: 1, patch: script.a }, options));
  await step('another user updates', () => update(actor('bob@acme.test'), module, { id, expectedVersion: 2, patch: script.b[0] }, options));
  await step('stale update of other fields: merged', () => update(actor('alice@acme.test'), module, { id, expectedVersion: 2, patch: script.c }, options));
  await step('stale update of the same field: conflict', () => update(actor('alice@acme.test'), module, { id, expectedVersion: 2, patch: script.b[1] }, options));
  await step('update that changes nothing', () => update(actor('alice@acme.test'), module, { id, expectedVersion: 4, patch: script.c }, options));
  await step('update of a version from the future', () => update(actor('alice@acme.test'), module, { id, expectedVersion: 9, patch: script.a }, options));
  await step('delete at an old version: conflict', () => deleteRecord(actor('alice@acme.test'), module, { id, expectedVersion: 3 }, options));
  await step('delete', () => deleteRecord(actor('alice@acme.test', 'delete'), module, { id, expectedVersion: 4 }, options));
  await step('delete again with its key', () => deleteRecord(actor('alice@acme.test', 'delete'), module, { id, expectedVersion: 4 }, options));
  await step('delete again: not found', () => deleteRecord(actor('alice@acme.test'), module, { id }, options));
  await step('update after the delete: not found', () => update(actor('alice@acme.test'), module, { id, expectedVersion: 4, patch: script.a }, options));

  const logged = await readEventsAfter(t.deps.db, { orgId, afterSeq: 0, recordId: id, limit: 100 });
  const ofRecord = () => published.filter((event) => (event as { recordId?: string }).recordId === id);
  // Published after each commit, in this process or through Redis: wait until all have arrived.
  await vi.waitFor(() => expect(ofRecord()).toHaveLength(logged.length), { timeout: 10_000 });
  controller.abort();
  await reading;
  return { steps, recordId: id, logged, published: ofRecord() };
}

/** Its record's id in every string as `<record id>`. */
function withoutId(value: unknown, id: string): unknown {
  if (typeof value === 'string') return value.replaceAll(id, '<record id>');
  if (Array.isArray(value)) return value.map((inner) => withoutId(inner, id));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, withoutId(inner, id)]));
  return value;
}

/** What must not depend on the strategy: each step's answer, and the events without their own seq and time. */
function comparable(run: Run) {
  return withoutId(
    {
      answers: run.steps.map(({ step, answer }) => ({ step, answer })),
      events: run.logged.map(({ seq: _seq, timestamp: _timestamp, ...event }) => event),
    },
    run.recordId,
  );
}

/** What each step must have been committed by, through each strategy (null: it failed). */
function expectedCommits(name: ModuleName, strategy: 'general' | 'one-statement'): StepOutcome['committedBy'][] {
  if (strategy === 'general') return ['general', 'general', null, 'general', 'general', 'general', 'general', null, 'general', null, null, 'general', 'general', null, null];
  // A module with a rule across fields reads the record first and, finding it moved on, gives no statement for the retry.
  const retriedUpdate = modules[name].check ? 'general' : 'one-statement';
  // A statement that finds the record moved on (merge, conflict, no-op, not found) leaves the change to a transaction.
  return [
    'one-statement',
    'one-statement',
    null,
    'one-statement',
    retriedUpdate,
    'one-statement',
    'general',
    null,
    'general',
    null,
    null,
    'one-statement',
    'one-statement',
    null,
    null,
  ];
}

describe('both commit strategies', () => {
  it.each(MODULE_NAMES)('write the same %s records, events and retries', async (name) => {
    const general = await runScript(name, 'general');
    const oneStatement = await runScript(name, 'one-statement');

    expect(general.steps.map((step) => step.committedBy)).toEqual(expectedCommits(name, 'general'));
    expect(oneStatement.steps.map((step) => step.committedBy)).toEqual(expectedCommits(name, 'one-statement'));
    expect(comparable(oneStatement)).toEqual(comparable(general));

    for (const run of [general, oneStatement]) {
      // The bus carries exactly what the log holds.
      expect(run.published).toEqual(run.logged);
      expect(run.logged.map((event) => [event.action, event.version, 'mergedFromVersion' in event ? event.mergedFromVersion : null])).toEqual([
        ['created', 1, null],
        ['updated', 2, null],
        ['updated', 3, null],
        ['updated', 4, 2],
        ['deleted', 5, null],
      ]);
    }
    // A sanity check of what both agree on: the merge's event carries only what it changed, and who and when.
    const merged = oneStatement.logged[3]!.data as Record<string, unknown>;
    expect(Object.keys(merged).sort()).toEqual([...Object.keys(scripts[name].c), 'updatedAt', 'updatedById'].sort());
  });
});
