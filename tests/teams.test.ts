import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DashboardCounters } from '../src/shared/dashboard.ts';
import type { Notification } from '../src/shared/notifications.ts';
import type { TeamEvent } from '../src/shared/teams.ts';
import { collect } from './helpers/collect.ts';
import { thisWeek, weekStartOf } from './helpers/dates.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

// On PGlite, PostgreSQL and two nodes (databaseSuites).

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ config: { WEEKLY_CAPACITY_HOURS: 40 } });
});
afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
});

describe('teams', () => {
  it('admins make teams and put people of the org in them; everyone sees them; nobody else can', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    const carol = await t.caller('carol@globex.test');
    const team = await alice.teams.create({ name: 'North crew' });
    expect(team).toEqual({ id: expect.any(String), name: 'North crew', version: 1, memberIds: [] });
    const withBob = await alice.teams.addMember({ teamId: team.id, userId: t.users['bob@acme.test'].id });
    expect(withBob).toMatchObject({ version: 2, memberIds: [t.users['bob@acme.test'].id] });
    // Again: nothing changes, no new version.
    expect((await alice.teams.addMember({ teamId: team.id, userId: t.users['bob@acme.test'].id })).version).toBe(2);
    expect(await bob.teams.list()).toEqual([withBob]);
    expect(await carol.teams.list()).toEqual([]);

    await expect(bob.teams.create({ name: 'Mine' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(bob.users.setCapacity({ userId: t.users['bob@acme.test'].id, weeklyHours: 60 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(alice.teams.create({ name: 'north CREW' })).rejects.toMatchObject({ code: 'CONFLICT', message: 'name: There is already a team called north CREW' });
    await expect(alice.teams.create({ name: '  ' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(alice.teams.addMember({ teamId: team.id, userId: t.users['carol@globex.test'].id })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(carol.teams.addMember({ teamId: team.id, userId: t.users['carol@globex.test'].id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(carol.users.setCapacity({ userId: t.users['bob@acme.test'].id, weeklyHours: 10 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });

    const renamed = await alice.teams.update({ id: team.id, name: 'North division' });
    expect(renamed).toMatchObject({ name: 'North division', version: 3 });
    const removed = await alice.teams.removeMember({ teamId: team.id, userId: t.users['bob@acme.test'].id });
    expect(removed.memberIds).toEqual([]);
    expect(await alice.teams.delete({ id: team.id })).toEqual({ id: team.id, deleted: true });
    expect(await alice.teams.list()).toEqual([]);
  });

  it("streams the org's team changes (and capacity) to its people, resumably, and to no other org", async () => {
    const bob = await t.client('bob@acme.test');
    const carol = await t.client('carol@globex.test');
    const seen = collect<TeamEvent>((handlers) => bob.trpc.teams.onChange.subscribe(undefined, handlers as never));
    const globex = collect<TeamEvent>((handlers) => carol.trpc.teams.onChange.subscribe(undefined, handlers as never));
    await vi.waitFor(() => expect(seen.isStarted() && globex.isStarted()).toBe(true), { timeout: 5_000 });
    const alice = await t.caller('alice@acme.test');
    const team = await alice.teams.create({ name: 'Streamed' });
    await alice.teams.addMember({ teamId: team.id, userId: t.users['alice@acme.test'].id });
    await alice.users.setCapacity({ userId: t.users['alice@acme.test'].id, weeklyHours: 32 });
    await vi.waitFor(() => expect(seen.items.map((event) => event.type)).toEqual(['team:created', 'team:members', 'capacity:updated']), { timeout: 5_000 });
    expect(seen.items[2]).toMatchObject({
      recordId: t.users['alice@acme.test'].id,
      data: { capacity: { weeklyHours: 32, isDefault: false }, load: { userId: t.users['alice@acme.test'].id, capacityHours: 32 } },
    });
    expect(globex.items).toEqual([]);
    seen.stop();
    globex.stop();
    await alice.teams.delete({ id: team.id });
    await alice.users.setCapacity({ userId: t.users['alice@acme.test'].id, weeklyHours: null });
  });

  it("puts each person's own capacity and each team's load (jobs and appointments) on the dashboard, follows one team, and moves live", async () => {
    const alice = await t.caller('alice@acme.test');
    const bobId = t.users['bob@acme.test'].id;
    const aliceId = t.users['alice@acme.test'].id;
    const team = await alice.teams.create({ name: 'Field' });
    await alice.teams.addMember({ teamId: team.id, userId: bobId });
    await alice.users.setCapacity({ userId: bobId, weeklyHours: 20 });

    const bob = await t.client('bob@acme.test');
    const followed = collect<DashboardCounters>((handlers) => bob.trpc.dashboard.onCounters.subscribe({ teamId: team.id }, handlers as never));
    await vi.waitFor(() => expect(followed.items.length).toBeGreaterThan(0), { timeout: 5_000 });
    const first = followed.items.at(-1)!;
    expect(first.crew.map((person) => person.userId)).toEqual([bobId]);
    const load = (counters: DashboardCounters) => counters.teams.find((row) => row.teamId === team.id)!;
    expect(load(first)).toMatchObject({ name: 'Field', members: 1, capacityHours: 20 });
    const before = load(first).scheduledHours;

    // A job scheduled this week for Bob moves his and his team's load.
    const job = await alice.jobs.create({ title: 'Boiler service', assigneeId: bobId, scheduledAt: thisWeek(), estimatedHours: 5, status: 'scheduled' });
    await vi.waitFor(() => expect(load(followed.items.at(-1)!).scheduledHours).toBe(before + 5), { timeout: 5_000 });
    const mine = followed.items.at(-1)!.crew[0]!;
    expect(mine).toMatchObject({ userId: bobId, capacityHours: 20, scheduledHours: before + 5, utilization: (before + 5) / 20, teamIds: [team.id] });

    // An appointment of his this week takes his time too (its length); a cancelled one does not.
    const startsAt = thisWeek();
    const endsAt = new Date(Date.parse(startsAt) + 2 * 3_600_000).toISOString();
    const visit = await alice.appointments.create({ title: 'Site visit', startsAt, endsAt, assigneeId: bobId });
    await vi.waitFor(() => expect(load(followed.items.at(-1)!).scheduledHours).toBe(before + 7), { timeout: 5_000 });
    await alice.appointments.update({ id: visit.id, expectedVersion: visit.version, patch: { status: 'cancelled' } });
    await vi.waitFor(() => expect(load(followed.items.at(-1)!).scheduledHours).toBe(before + 5), { timeout: 5_000 });

    // Reassigned to Alice, who is not in the team: the team's load drops again.
    await alice.jobs.update({ id: job.id, expectedVersion: job.version, patch: { assigneeId: aliceId } });
    await vi.waitFor(() => expect(load(followed.items.at(-1)!).scheduledHours).toBe(before), { timeout: 5_000 });
    // A new capacity moves it too.
    await alice.users.setCapacity({ userId: bobId, weeklyHours: 10 });
    await vi.waitFor(() => expect(load(followed.items.at(-1)!).capacityHours).toBe(10), { timeout: 5_000 });

    // Unfollowed: everyone, with the org's default for those without their own.
    const everyone = await alice.dashboard.counters();
    expect(everyone.crew.find((person) => person.userId === aliceId)).toMatchObject({ capacityHours: 40 });
    followed.stop();
    await alice.teams.delete({ id: team.id });
  });

  it("writes each person's new load for every week a job or appointment moves them in (load:updated), and nothing when hours do not move", async () => {
    const alice = await t.caller('alice@acme.test');
    const aliceId = t.users['alice@acme.test'].id;
    const bobId = t.users['bob@acme.test'].id;
    await alice.users.setCapacity({ userId: bobId, weeklyHours: 20 });
    await alice.users.setCapacity({ userId: aliceId, weeklyHours: null });
    // Weeks far ahead, which the other tests leave empty.
    const day = 86_400_000;
    const later = new Date(Date.parse(thisWeek()) + 70 * day).toISOString();
    const laterStill = new Date(Date.parse(later) + 7 * day).toISOString();
    const bob = await t.client('bob@acme.test');
    const seen = collect<TeamEvent>((handlers) => bob.trpc.teams.onChange.subscribe(undefined, handlers as never));
    await vi.waitFor(() => expect(seen.isStarted()).toBe(true), { timeout: 5_000 });
    const loads = () => seen.items.flatMap((event) => (event.action === 'load:updated' ? [event.data.load] : []));
    const load = (userId: string, at: string, scheduledHours: number, capacityHours: number) => ({
      userId,
      weekStart: weekStartOf(at),
      scheduledHours,
      capacityHours,
      utilization: scheduledHours / capacityHours,
    });

    const job = await alice.jobs.create({ title: 'Chimney', assigneeId: bobId, scheduledAt: later, estimatedHours: 6 });
    const visitEnds = new Date(Date.parse(later) + 3 * 3_600_000).toISOString();
    const visit = await alice.appointments.create({ title: 'Survey', startsAt: later, endsAt: visitEnds, assigneeId: bobId });
    // Neither dated nor assigned: nobody's week.
    const loose = await alice.jobs.create({ title: 'Someday', estimatedHours: 8 });
    await vi.waitFor(() => expect(loads()).toHaveLength(2), { timeout: 5_000 });
    expect(loads()).toEqual([load(bobId, later, 6, 20), load(bobId, later, 9, 20)]);

    // Moved a week on: both weeks; status along the way (new → scheduled) moves no hours.
    const moved = await alice.jobs.update({ id: job.id, expectedVersion: job.version, patch: { scheduledAt: laterStill } });
    const scheduled = await alice.jobs.update({ id: job.id, expectedVersion: moved.version, patch: { status: 'scheduled' } });
    await alice.jobs.update({ id: loose.id, expectedVersion: loose.version, patch: { estimatedHours: 9 } });
    // Reassigned: Bob's week and Alice's (with the org's default capacity).
    const reassigned = await alice.jobs.update({ id: job.id, expectedVersion: scheduled.version, patch: { assigneeId: aliceId } });
    const cancelled = await alice.appointments.update({ id: visit.id, expectedVersion: visit.version, patch: { status: 'cancelled' } });
    // Out of cancelled: its hours count again (an update whose preview cannot say it was cancelled).
    await alice.appointments.update({ id: visit.id, expectedVersion: cancelled.version, patch: { status: 'confirmed' } });
    await alice.jobs.delete({ id: job.id, expectedVersion: reassigned.version });
    await vi.waitFor(() => expect(loads()).toHaveLength(9), { timeout: 5_000 });
    expect(loads().slice(2)).toEqual([
      load(bobId, later, 3, 20),
      load(bobId, laterStill, 6, 20),
      load(bobId, laterStill, 0, 20),
      load(aliceId, laterStill, 6, 40),
      load(bobId, later, 0, 20),
      load(bobId, later, 3, 20),
      load(aliceId, laterStill, 0, 40),
    ]);
    expect(seen.items.filter((event) => event.action === 'load:updated').every((event) => event.userId === aliceId)).toBe(true);
    seen.stop();
  });

  it('tells a team about work given to it with nobody on it (team_assigned), not whoever gave it, and nobody for assigned work', async () => {
    const alice = await t.caller('alice@acme.test');
    const aliceId = t.users['alice@acme.test'].id;
    const bobId = t.users['bob@acme.test'].id;
    const team = await alice.teams.create({ name: 'Dispatch' });
    await alice.teams.addMember({ teamId: team.id, userId: bobId });
    await alice.teams.addMember({ teamId: team.id, userId: aliceId });
    const bob = await t.client('bob@acme.test');
    const notes = collect<Notification>((handlers) => bob.trpc.notifications.onNew.subscribe(undefined, handlers as never));
    await vi.waitFor(() => expect(notes.isStarted()).toBe(true), { timeout: 5_000 });
    const mine = async () => (await (await t.caller('bob@acme.test')).notifications.list()).items.filter((note) => note.kind === 'team_assigned');
    const before = (await mine()).length;

    const job = await alice.jobs.create({ title: 'Burst pipe', teamId: team.id });
    // Assigned work is its assignee's news (job_assigned), not the team's.
    await alice.jobs.create({ title: 'Fence', teamId: team.id, assigneeId: bobId });
    // An escrow is nobody's work to pick up.
    await alice.escrows.create({ propertyAddress: '1 Team St', teamId: team.id });
    const lead = await alice.leads.create({ name: 'Walk-in Wendy' });
    await alice.leads.update({ id: lead.id, expectedVersion: lead.version, patch: { teamId: team.id } });
    await vi.waitFor(() => expect(notes.items.filter((note) => note.kind === 'team_assigned')).toHaveLength(2), { timeout: 5_000 });
    expect(notes.items.filter((note) => note.kind === 'team_assigned')).toEqual([
      expect.objectContaining({ title: 'New job for Dispatch: Burst pipe', module: 'jobs', recordId: job.id }),
      expect.objectContaining({ title: 'New lead for Dispatch: Walk-in Wendy', module: 'leads', recordId: lead.id }),
    ]);
    expect(await mine()).toHaveLength(before + 2);

    // Taken, then let go by Bob: back to the team, which is Alice now, not Bob.
    const taken = await (await t.caller('bob@acme.test')).jobs.update({ id: job.id, expectedVersion: job.version, patch: { assigneeId: bobId } });
    await (await t.caller('bob@acme.test')).jobs.update({ id: job.id, expectedVersion: taken.version, patch: { assigneeId: null } });
    const alicesNotes = async () => (await alice.notifications.list()).items.filter((note) => note.kind === 'team_assigned' && note.recordId === job.id);
    await vi.waitFor(async () => expect(await alicesNotes()).toHaveLength(1), { timeout: 5_000 });
    expect(await mine()).toHaveLength(before + 2);
    notes.stop();
  });

  it('puts records in a team: lists filter by it, events.onAny({ teamId }) follows it (a record leaving it too), and a team with records is not deleted', async () => {
    const alice = await t.caller('alice@acme.test');
    const carol = await t.caller('carol@globex.test');
    const team = await alice.teams.create({ name: 'South crew' });
    const other = await alice.teams.create({ name: 'East crew' });
    const globexTeam = await carol.teams.create({ name: 'Globex crew' });
    await expect(alice.jobs.create({ title: 'Not theirs', teamId: globexTeam.id })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: `teamId: No team with id ${globexTeam.id}`,
    });

    const bob = await t.client('bob@acme.test');
    const followed = collect<{ type: string; recordId: string; teamId?: string }>((handlers) => bob.trpc.events.onAny.subscribe({ teamId: team.id }, handlers as never));
    await vi.waitFor(() => expect(followed.isStarted()).toBe(true), { timeout: 5_000 });
    const inTeam = await alice.jobs.create({ title: 'South roof', teamId: team.id });
    const elsewhere = await alice.jobs.create({ title: 'East roof', teamId: other.id });
    const noTeam = await alice.leads.create({ name: 'Nobody’s lead' });
    const lead = await alice.leads.create({ name: 'South lead', teamId: team.id });
    const moved = await alice.jobs.update({ id: inTeam.id, expectedVersion: 1, patch: { status: 'scheduled' } });
    await alice.jobs.update({ id: inTeam.id, expectedVersion: moved.version, patch: { teamId: other.id } });
    await alice.jobs.update({ id: elsewhere.id, expectedVersion: 1, patch: { notes: 'Not followed' } });
    await vi.waitFor(() => expect(followed.items).toHaveLength(4), { timeout: 5_000 });
    expect(followed.items.map((event) => [event.type, event.recordId])).toEqual([
      ['JOB_CREATED', inTeam.id],
      ['LEAD_CREATED', lead.id],
      ['JOB_UPDATED', inTeam.id],
      ['JOB_UPDATED', inTeam.id],
    ]);
    expect(followed.items.slice(0, 3).every((event) => event.teamId === team.id)).toBe(true);
    expect(followed.items[3]!.teamId).toBe(other.id);
    expect(followed.items.map((event) => event.recordId)).not.toContain(noTeam.id);
    followed.stop();

    expect((await alice.leads.list({ teamId: team.id })).items.map((item) => item.id)).toEqual([lead.id]);
    expect((await alice.jobs.list({ teamId: other.id })).items.map((item) => item.id).sort()).toEqual([inTeam.id, elsewhere.id].sort());
    await expect(alice.teams.delete({ id: team.id })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: '1 record still belongs to South crew: move them to another team or to none first',
    });
    await alice.leads.update({ id: lead.id, expectedVersion: lead.version, patch: { teamId: null } });
    expect(await alice.teams.delete({ id: team.id })).toEqual({ id: team.id, deleted: true });
  });
});
