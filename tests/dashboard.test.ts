import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DashboardCounters } from '../src/shared/dashboard.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

describe('dashboard counters', () => {
  it("count open jobs by status, today's appointments, this week's leads and crew load, per org", async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = t.users['bob@acme.test'];
    const now = new Date();
    await alice.jobs.create({ title: 'New one' });
    await alice.jobs.create({ title: 'Scheduled', status: 'scheduled', assigneeId: bob.id, scheduledAt: now.toISOString(), estimatedHours: 8 });
    await alice.jobs.create({ title: 'Done', status: 'done' });
    const noon = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 12));
    await alice.appointments.create({ title: 'Today', startsAt: noon.toISOString(), endsAt: new Date(noon.getTime() + 3_600_000).toISOString() });
    await alice.appointments.create({
      title: 'Tomorrow',
      startsAt: new Date(noon.getTime() + 86_400_000).toISOString(),
      endsAt: new Date(noon.getTime() + 90_000_000).toISOString(),
    });
    await alice.leads.create({ name: 'Fresh lead' });
    const counters = await alice.dashboard.counters();
    expect(counters).toMatchObject({
      jobsByStatus: { new: 1, scheduled: 1, in_progress: 0, done: 1, cancelled: 0 },
      openJobs: 2,
      newLeadsThisWeek: 1,
    });
    expect(counters.appointmentsToday).toBe(1);
    expect(counters.crew.find((load) => load.userId === bob.id)).toMatchObject({ scheduledHours: 8, capacityHours: 40, utilization: 0.2 });
    const carol = await t.caller('carol@globex.test');
    expect((await carol.dashboard.counters()).openJobs).toBe(0);
  });

  it('move by themselves when the records change, a burst at a time', async () => {
    const alice = await t.caller('alice@acme.test');
    const client = await t.client('bob@acme.test');
    const seen: DashboardCounters[] = [];
    const subscription = client.trpc.dashboard.onCounters.subscribe(undefined, { onData: (data) => seen.push(data as DashboardCounters) });
    await vi.waitFor(() => expect(seen.length).toBe(1), { timeout: 5_000 });
    const before = seen[0]!.openJobs;
    await alice.jobs.create({ title: 'Moves the counter' });
    await vi.waitFor(() => expect(seen.at(-1)!.openJobs).toBe(before + 1), { timeout: 3_000 });
    const updatesBefore = seen.length;
    await Promise.all(Array.from({ length: 20 }, (_, i) => alice.leads.create({ name: `Burst lead ${i}` })));
    await vi.waitFor(() => expect(seen.at(-1)!.newLeadsThisWeek).toBe(seen[0]!.newLeadsThisWeek + 20), { timeout: 5_000 });
    // Twenty changes, far fewer recomputations pushed.
    expect(seen.length - updatesBefore).toBeLessThanOrEqual(8);
    subscription.unsubscribe();
  });
});
