import { TRPCError } from '@trpc/server';
import type { PublicUser } from '../../shared/auth.ts';
import { type Capacity, MAX_TEAMS_PER_ORG, type Team, type TeamEvent } from '../../shared/teams.ts';
import type { AppDeps } from '../context.ts';
import { personLoad, weekOf } from '../dashboard/load.ts';
import type { Db, Tx } from '../db/client.ts';
import { type CommitDeps, commitChange } from '../events/commit.ts';
import { idempotencyOf } from '../events/idempotency.ts';
import type { EventDraft } from '../events/log.ts';

/**
 * Teams and people's capacity. Every change is an event of the org's log (`teams`),
 * written with it under the org's lock: `teams.onChange` and the dashboard follow them.
 */

interface Actor {
  deps: CommitDeps & Pick<AppDeps, 'weeklyCapacityHours'>;
  user: PublicUser;
  idempotencyKey?: string | undefined;
}

const withMembers = { members: { select: { userId: true }, orderBy: { addedAt: 'asc' as const } } };
type TeamRow = { id: string; name: string; version: number; members: { userId: string }[] };

const toTeam = (row: TeamRow): Team => ({ id: row.id, name: row.name, version: row.version, memberIds: row.members.map((member) => member.userId) });

function teamEvent(action: 'team:created' | 'team:updated' | 'team:members' | 'team:deleted', user: PublicUser, team: Team): EventDraft {
  return { orgId: user.orgId, module: 'teams', action, recordId: team.id, version: team.version, userId: user.id, data: { team } };
}

export async function listTeams(db: Db, orgId: string): Promise<Team[]> {
  const rows = await db.team.findMany({ where: { orgId }, include: withMembers, orderBy: { name: 'asc' }, take: MAX_TEAMS_PER_ORG });
  return rows.map(toTeam);
}

async function teamInOrg(tx: Tx, orgId: string, id: string): Promise<TeamRow> {
  const row = await tx.team.findFirst({ where: { id, orgId }, include: withMembers });
  if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `No team with id ${id}` });
  return row;
}

async function checkNameFree(tx: Tx, orgId: string, name: string, except?: string) {
  const taken = await tx.team.findFirst({ where: { orgId, name: { equals: name, mode: 'insensitive' }, ...(except ? { id: { not: except } } : {}) }, select: { id: true } });
  if (taken) throw new TRPCError({ code: 'CONFLICT', message: `name: There is already a team called ${name}` });
}

export function createTeam(actor: Actor, input: { name: string }): Promise<Team> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      if ((await tx.team.count({ where: { orgId: user.orgId } })) >= MAX_TEAMS_PER_ORG) {
        throw new TRPCError({ code: 'BAD_REQUEST', message: `An org can have at most ${MAX_TEAMS_PER_ORG} teams` });
      }
      await checkNameFree(tx, user.orgId, input.name);
      const team = toTeam(await tx.team.create({ data: { orgId: user.orgId, name: input.name }, include: withMembers }));
      return { result: team, event: teamEvent('team:created', user, team) };
    },
    { idempotency: idempotencyOf(actor, ['teams', 'create'], input) },
  );
}

export function renameTeam(actor: Actor, input: { id: string; name: string }): Promise<Team> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = await teamInOrg(tx, user.orgId, input.id);
      if (current.name === input.name) return { result: toTeam(current) };
      await checkNameFree(tx, user.orgId, input.name, input.id);
      const team = toTeam(await tx.team.update({ where: { id: input.id }, data: { name: input.name, version: { increment: 1 } }, include: withMembers }));
      return { result: team, event: teamEvent('team:updated', user, team) };
    },
    { idempotency: idempotencyOf(actor, ['teams', 'update'], input) },
  );
}

export function deleteTeam(actor: Actor, input: { id: string }): Promise<{ id: string; deleted: true }> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = toTeam(await teamInOrg(tx, user.orgId, input.id));
      const where = { orgId: user.orgId, teamId: input.id };
      const counts = await Promise.all([
        tx.job.count({ where }),
        tx.escrow.count({ where }),
        tx.listing.count({ where }),
        tx.client.count({ where }),
        tx.lead.count({ where }),
        tx.appointment.count({ where }),
      ]);
      const held = counts.reduce((sum, count) => sum + count, 0);
      // Deleting it would leave them pointing at nothing: they are moved first, each with its own event.
      if (held > 0)
        throw new TRPCError({
          code: 'CONFLICT',
          message: `${held} record${held === 1 ? ' still belongs' : 's still belong'} to ${current.name}: move them to another team or to none first`,
        });
      await tx.team.delete({ where: { id: input.id } });
      return { result: { id: input.id, deleted: true as const }, event: teamEvent('team:deleted', user, { ...current, version: current.version + 1 }) };
    },
    { idempotency: idempotencyOf(actor, ['teams', 'delete'], input) },
  );
}

/** Puts a person of the org in a team (`add`) or takes them out; doing what is already so changes nothing. */
export function setMembership(actor: Actor, input: { teamId: string; userId: string }, add: boolean): Promise<Team> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = await teamInOrg(tx, user.orgId, input.teamId);
      const person = await tx.user.findFirst({ where: { id: input.userId, orgId: user.orgId }, select: { id: true } });
      if (!person) throw new TRPCError({ code: 'BAD_REQUEST', message: `userId: No user with id ${input.userId}` });
      const isMember = current.members.some((member) => member.userId === input.userId);
      if (isMember === add) return { result: toTeam(current) };
      if (add) await tx.teamMember.create({ data: { teamId: input.teamId, userId: input.userId, orgId: user.orgId } });
      else await tx.teamMember.delete({ where: { teamId_userId: { teamId: input.teamId, userId: input.userId } } });
      const team = toTeam(await tx.team.update({ where: { id: input.teamId }, data: { version: { increment: 1 } }, include: withMembers }));
      return { result: team, event: teamEvent('team:members', user, team) };
    },
    { idempotency: idempotencyOf(actor, ['teams', add ? 'addMember' : 'removeMember'], input) },
  );
}

/** A person's weekly hours (null: back to the org's default), as `capacity:updated` in the log with their load this week. */
export function setCapacity(actor: Actor, input: { userId: string; weeklyHours: number | null }): Promise<Capacity> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const person = await tx.user.findFirst({ where: { id: input.userId, orgId: user.orgId }, select: { id: true, weeklyCapacityHours: true } });
      if (!person) throw new TRPCError({ code: 'BAD_REQUEST', message: `userId: No user with id ${input.userId}` });
      const capacity: Capacity = { userId: person.id, weeklyHours: input.weeklyHours ?? actor.deps.weeklyCapacityHours, isDefault: input.weeklyHours === null };
      if (person.weeklyCapacityHours === input.weeklyHours) return { result: capacity };
      await tx.user.update({ where: { id: person.id }, data: { weeklyCapacityHours: input.weeklyHours } });
      const load = await personLoad(tx, user.orgId, person.id, weekOf(new Date()), actor.deps.weeklyCapacityHours);
      const data: Extract<TeamEvent, { action: 'capacity:updated' }>['data'] = { capacity, load: load! };
      const event: EventDraft = { orgId: user.orgId, module: 'teams', action: 'capacity:updated', recordId: person.id, version: 0, userId: user.id, data };
      return { result: capacity, event };
    },
    { idempotency: idempotencyOf(actor, ['users', 'setCapacity'], input) },
  );
}
