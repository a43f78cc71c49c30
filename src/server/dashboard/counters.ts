import type { CrewLoad, DashboardCounters, TeamLoad } from '../../shared/dashboard.ts';
import { JOB_STATUSES } from '../../shared/modules.ts';
import type { Db } from '../db/client.ts';
import { bookedHours, utilizationOf, weekOf } from './load.ts';

export interface CounterOptions {
  /** Weekly hours of a person without their own (`users.setCapacity`). @default 40 */
  weeklyCapacityHours: number;
  /** Only this team's people in `crew`. */
  teamId?: string | undefined;
  now?: Date;
}

/** The org's dashboard figures, from the records themselves (days and weeks in UTC). */
export async function computeCounters(db: Db, orgId: string, options: CounterOptions): Promise<DashboardCounters> {
  const now = options.now ?? new Date();
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const dayEnd = new Date(dayStart.getTime() + 86_400_000);
  const week = weekOf(now);
  const [byStatus, appointmentsToday, newLeadsThisWeek, hours, users, conversations, missedCallsToday, teamRows] = await Promise.all([
    db.job.groupBy({ by: ['status'], where: { orgId }, _count: { _all: true } }),
    db.appointment.count({ where: { orgId, startsAt: { gte: dayStart, lt: dayEnd }, status: { not: 'cancelled' } } }),
    db.lead.count({ where: { orgId, createdAt: { gte: week.start, lt: week.end } } }),
    bookedHours(db, orgId, week),
    db.user.findMany({ where: { orgId }, select: { id: true, name: true, weeklyCapacityHours: true, teams: { select: { teamId: true } } }, orderBy: { name: 'asc' } }),
    db.conversation.aggregate({ where: { orgId, status: 'open' }, _count: { _all: true }, _sum: { unreadCount: true } }),
    db.call.count({ where: { orgId, status: 'missed', createdAt: { gte: dayStart, lt: dayEnd } } }),
    db.team.findMany({ where: { orgId }, select: { id: true, name: true }, orderBy: { name: 'asc' } }),
  ]);
  const jobsByStatus = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as DashboardCounters['jobsByStatus'];
  for (const row of byStatus) if (row.status in jobsByStatus) jobsByStatus[row.status as keyof typeof jobsByStatus] = row._count._all;
  const everyone: CrewLoad[] = users.map((user) => {
    const scheduledHours = hours.get(user.id) ?? 0;
    const capacityHours = user.weeklyCapacityHours ?? options.weeklyCapacityHours;
    return {
      userId: user.id,
      name: user.name,
      scheduledHours,
      capacityHours,
      utilization: utilizationOf(scheduledHours, capacityHours),
      teamIds: user.teams.map((team) => team.teamId),
    };
  });
  const crew = options.teamId ? everyone.filter((person) => person.teamIds.includes(options.teamId!)) : everyone;
  const teams: TeamLoad[] = teamRows.map((team) => {
    const people = everyone.filter((person) => person.teamIds.includes(team.id));
    const scheduledHours = people.reduce((sum, person) => sum + person.scheduledHours, 0);
    const capacityHours = people.reduce((sum, person) => sum + person.capacityHours, 0);
    return { teamId: team.id, name: team.name, members: people.length, scheduledHours, capacityHours, utilization: utilizationOf(scheduledHours, capacityHours) };
  });
  return {
    jobsByStatus,
    openJobs: jobsByStatus.new + jobsByStatus.scheduled + jobsByStatus.in_progress,
    appointmentsToday,
    newLeadsThisWeek,
    activeConversations: conversations._count._all,
    unreadMessages: conversations._sum.unreadCount ?? 0,
    missedCallsToday,
    crew,
    teams,
    asOf: now.toISOString(),
  };
}
