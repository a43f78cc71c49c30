import type { CrmEvent } from '../../shared/events.ts';
import { titleFieldOf } from '../../shared/modules.ts';
import type { TeamEvent } from '../../shared/teams.ts';
import type { Tx } from '../db/client.ts';
import type { ChangeEffect } from '../events/effects.ts';
import type { EventDraft } from '../events/log.ts';

/**
 * Work given to a team with nobody on it notifies the team: a job, lead or appointment
 * created in a team unassigned, moved to a team while unassigned, or unassigned while
 * in a team. Whoever did it is not told. Each such change writes `team:handed` in the
 * `teams` stream naming the people notified (the rule `notifies` reads back), in the
 * change's own transaction.
 */

/** The modules whose records are somebody's work, and what one is called. */
const WORK = { jobs: 'job', leads: 'lead', appointments: 'appointment' } as const;
type WorkModule = keyof typeof WORK;
const isWork = (module: string): module is WorkModule => module in WORK;

type Change = { from?: unknown; to?: unknown } | undefined;

/** Cheap, from the change alone (an update's preview has no `from`). */
function mayFollow(module: string, action: string, data: Record<string, unknown>): boolean {
  if (!isWork(module)) return false;
  if (action === 'created') return typeof data.teamId === 'string' && data.assigneeId == null;
  if (action !== 'updated') return false;
  const team = data.teamId as Change;
  const assignee = data.assigneeId as Change;
  return (team !== undefined && typeof team.to === 'string') || (assignee !== undefined && assignee.to == null);
}

/** Whether this change handed the record to its team: it is in a team now, nobody has it, and that is new. */
function handedToTeam(event: CrmEvent, record: Record<string, unknown>): boolean {
  if (typeof record.teamId !== 'string' || record.assigneeId != null) return false;
  if (event.action === 'created') return true;
  if (event.action !== 'updated') return false;
  const changes = event.data as Record<string, Change>;
  return changes.teamId !== undefined || changes.assigneeId !== undefined;
}

async function handedEventsFor(tx: Tx, event: CrmEvent, record: Record<string, unknown>): Promise<EventDraft[]> {
  const { module } = event;
  if (!isWork(module) || !handedToTeam(event, record)) return [];
  const teamId = record.teamId as string;
  const team = await tx.team.findFirst({
    where: { id: teamId, orgId: event.orgId },
    select: { name: true, members: { where: { user: { deactivatedAt: null } }, select: { userId: true }, orderBy: { addedAt: 'asc' } } },
  });
  const notified = (team?.members ?? []).map((member) => member.userId).filter((userId) => userId !== event.userId);
  if (!team || notified.length === 0) return [];
  const noun = WORK[module];
  const title = String(record[titleFieldOf(module)] ?? '');
  const data: Extract<TeamEvent, { action: 'team:handed' }>['data'] = { teamId, module, title, notifiedUserIds: notified };
  return [
    {
      orgId: event.orgId,
      module: 'teams',
      action: 'team:handed',
      recordId: event.recordId,
      version: event.version,
      userId: event.userId,
      data,
      notifications: notified.map((userId) => ({
        userId,
        kind: 'team_assigned' as const,
        title: `New ${noun} for ${team.name}: ${title}`,
        body: null,
        module,
        recordId: event.recordId,
      })),
    },
  ];
}

/** Registered at start (bootstrap.ts). */
export const teamNotificationEffect: ChangeEffect = { mayFollow, eventsFor: handedEventsFor };
