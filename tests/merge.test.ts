import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneExpired } from '../src/server/events/retention.ts';
import type { CrmEvent } from '../src/shared/events.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

async function jobAtVersion5() {
  const alice = await t.caller('alice@acme.test');
  let job = await alice.jobs.create({ title: 'Merge me' });
  for (const hours of [1, 2, 3, 4]) job = await alice.jobs.update({ id: job.id, expectedVersion: job.version, patch: { estimatedHours: hours } });
  expect(job.version).toBe(5);
  return job;
}

describe('field-level merge', () => {
  it('applies concurrent edits of different fields, and refuses the same field with the other value', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const job = await jobAtVersion5();
    const byAlice = await alice.jobs.update({ id: job.id, expectedVersion: 5, patch: { status: 'scheduled' } });
    const byBob = await bob.jobs.update({ id: job.id, expectedVersion: 5, patch: { notes: 'Bring the ladder' } });
    expect(byAlice.version).toBe(6);
    expect(byBob).toMatchObject({ version: 7, status: 'scheduled', notes: 'Bring the ladder' });

    const events = (await alice.events.since({ lastEventId: '0', limit: 1000 })).events.filter((event) => event.recordId === job.id) as CrmEvent[];
    expect(events.slice(-2).map((event) => [event.version, event.mergedFromVersion, Object.keys(event.data).filter((key) => !key.startsWith('updated'))])).toEqual([
      [6, undefined, ['status']],
      [7, 5, ['notes']],
    ]);

    const error = await bob.jobs.update({ id: job.id, expectedVersion: 5, patch: { status: 'cancelled' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe('CONFLICT');
    expect((error as TRPCError).message).toMatch(/status/);
    const cause = (error as TRPCError).cause as unknown as { current: { version: number }; conflicts: unknown[] };
    expect(cause.current.version).toBe(7);
    expect(cause.conflicts).toEqual([{ field: 'status', value: 'scheduled', changedById: t.users['alice@acme.test'].id, version: 6 }]);
  });

  it('does not count your own earlier change, nor a patch that agrees with the current value, as a conflict', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const job = await jobAtVersion5();
    await bob.jobs.update({ id: job.id, expectedVersion: 5, patch: { notes: 'first' } });
    await alice.jobs.update({ id: job.id, expectedVersion: 6, patch: { title: 'Renamed' } });
    expect((await bob.jobs.update({ id: job.id, expectedVersion: 5, patch: { notes: 'second' } })).version).toBe(8);
    expect((await bob.jobs.update({ id: job.id, expectedVersion: 5, patch: { title: 'Renamed' } })).version).toBe(8);
  });

  it('refuses a merge when the history since the base version is no longer kept, or the version is from the future', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const job = await jobAtVersion5();
    await alice.jobs.update({ id: job.id, expectedVersion: 5, patch: { status: 'done' } });
    await expect(bob.jobs.update({ id: job.id, expectedVersion: 9, patch: { notes: 'x' } })).rejects.toMatchObject({ code: 'CONFLICT' });
    // Past the history's retention too: record changes outlive the log for HISTORY_RETENTION_DAYS.
    await pruneExpired(t.deps.db, { eventRetentionMs: 1, idempotencyTtlMs: 1, historyRetentionMs: 1, now: new Date(Date.now() + 60_000) });
    await expect(bob.jobs.update({ id: job.id, expectedVersion: 5, patch: { notes: 'x' } })).rejects.toMatchObject({ code: 'CONFLICT' });
  });
});
