import type { AlertKind } from '../../shared/comms.ts';
import type { Tx } from '../db/client.ts';

/**
 * Who an alert of a kind notifies:
 * - `owner`: the record's assignee, else its creator;
 * - `team`: the record's team, else the assignee's teams (the assignee alone when in none),
 *   else, unassigned, everyone active in the org;
 * - `org`: everyone active in the org.
 */
export const ALERT_AUDIENCES = ['owner', 'team', 'org'] as const;
export type AlertAudience = (typeof ALERT_AUDIENCES)[number];
export const DEFAULT_ALERT_AUDIENCE: AlertAudience = 'team';

/** Per kind, from `ALERT_AUDIENCE` (bootstrap.ts); a kind not named takes `team`. Process-wide, as the effects are. */
const audiences = new Map<AlertKind, AlertAudience>();
export function setAlertAudiences(byKind: Partial<Record<AlertKind, AlertAudience>>): void {
  audiences.clear();
  for (const [kind, audience] of Object.entries(byKind)) audiences.set(kind as AlertKind, audience);
}

/** The people an alert notifies, by its kind's audience: never empty (the owner at least). */
export async function audienceOf(
  tx: Tx,
  candidate: { orgId: string; kind: AlertKind; ownerId: string; assigneeId: string | null; teamId: string | null },
  audience = audiences.get(candidate.kind) ?? DEFAULT_ALERT_AUDIENCE,
): Promise<string[]> {
  const everyone = async () =>
    (await tx.user.findMany({ where: { orgId: candidate.orgId, deactivatedAt: null }, select: { id: true }, orderBy: { id: 'asc' } })).map((user) => user.id);
  let people: string[];
  if (audience === 'owner') people = [candidate.ownerId];
  else if (audience === 'org') people = await everyone();
  else if (candidate.teamId) people = [...(await teamPeople(tx, candidate.orgId, { teamId: candidate.teamId })), ...(candidate.assigneeId ? [candidate.assigneeId] : [])];
  else if (candidate.assigneeId) {
    const teams = await tx.teamMember.findMany({ where: { orgId: candidate.orgId, userId: candidate.assigneeId }, select: { teamId: true } });
    people = [candidate.assigneeId, ...(teams.length ? await teamPeople(tx, candidate.orgId, { teamId: { in: teams.map((team) => team.teamId) } }) : [])];
  } else people = await everyone();
  const unique = [...new Set(people)];
  return unique.length ? unique : [candidate.ownerId];
}

async function teamPeople(tx: Tx, orgId: string, where: { teamId: string | { in: string[] } }): Promise<string[]> {
  const rows = await tx.teamMember.findMany({ where: { orgId, ...where, user: { deactivatedAt: null } }, select: { userId: true } });
  return rows.map((row) => row.userId);
}
