import type { CrewLoad, DashboardCounters, TeamLoad } from '../../shared/dashboard.ts';
import { JOB_STATUSES } from '../../shared/modules.ts';
import type { Db } from '../db/client.ts';

export interface CounterOptions {
  /** Weekly hours of a person without their own (`users.setCapacity`). @default 40 */
  weeklyCapacityHours: number;
  /** Only this team's people in `crew`. */
  teamId?: string | undefined;
  now?: Date;
}

const ratio = (hours: number, capacity: number) => (capacity > 0 ? hours / capacity : 0);

/** Monday 00:00 UTC of the week of `now`, and the Monday after. */
function weekOf(now: Date): { start: Date; end: Date } {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  start.setUTCDate(start.getUTCDate() - ((start.getUTCDay() + 6) % 7));
  const end = new Date(start);
  end.setUTCDate(end.getUTCDate() + 7);
  return { start, end };
}

/** The org's dashboard figures, from the records themselves (days and weeks in UTC). */
export async function computeCounters(db: Db, orgId: string, options: CounterOptions): Promise<DashboardCounters> {
  const now = options.now ?? new Date();
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const dayEnd = new Date(dayStart.getTime() + 86_400_000);
  const week = weekOf(now);
  const [byStatus, appointmentsToday, newLeadsThisWeek, scheduled, users, conversations, missedCallsToday, teamRows, booked] = await Promise.all([
    db.job.groupBy({ by: ['status'], where: { orgId }, _count: { _all: true } }),
    db.appointment.count({ where: { orgId, startsAt: { gte: dayStart, lt: dayEnd }, status: { not: 'cancelled' } } }),
    db.lead.count({ where: { orgId, createdAt: { gte: week.start, lt: week.end } } }),
    db.job.groupBy({
      by: ['assigneeId'],
      where: { orgId, assigneeId: { not: null }, scheduledAt: { gte: week.start, lt: week.end }, status: { not: 'cancelled' } },
      _sum: { estimatedHours: true },
    }),
    db.user.findMany({ where: { orgId }, select: { id: true, name: true, weeklyCapacityHours: true, teams: { select: { teamId: true } } }, orderBy: { name: 'asc' } }),
    db.conversation.aggregate({ where: { orgId, status: 'open' }, _count: { _all: true }, _sum: { unreadCount: true } }),
    db.call.count({ where: { orgId, status: 'missed', createdAt: { gte: dayStart, lt: dayEnd } } }),
    db.team.findMany({ where: { orgId }, select: { id: true, name: true }, orderBy: { name: 'asc' } }),
    // Appointments take their people's time too: their length, this week, unless cancelled.
    db.$queryRaw<{ assigneeId: string; hours: number }[]>`
      SELECT "assigneeId", SUM(EXTRACT(EPOCH FROM ("endsAt" - "startsAt")) / 3600)::float8 AS hours FROM "Appointment"
      WHERE "orgId" = ${orgId} AND "assigneeId" IS NOT NULL AND "startsAt" >= ${week.start} AND "startsAt" < ${week.end} AND status <> 'cancelled'
      GROUP BY "assigneeId"`,
  ]);
  const jobsByStatus = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as DashboardCounters['jobsByStatus'];
  for (const row of byStatus) if (row.status in jobsByStatus) jobsByStatus[row.status as keyof typeof jobsByStatus] = row._count._all;
  const hours = new Map(scheduled.map((row) => [row.assigneeId, row._sum.estimatedHours ?? 0]));
  for (const row of booked) hours.set(row.assigneeId, (hours.get(row.assigneeId) ?? 0) + Number(row.hours));
  const everyone: CrewLoad[] = users.map((user) => {
    const scheduledHours = hours.get(user.id) ?? 0;
    const capacityHours = user.weeklyCapacityHours ?? options.weeklyCapacityHours;
    return { userId: user.id, name: user.name, scheduledHours, capacityHours, utilization: ratio(scheduledHours, capacityHours), teamIds: user.teams.map((team) => team.teamId) };
  });
  const crew = options.teamId ? everyone.filter((person) => person.teamIds.includes(options.teamId!)) : everyone;
  const teams: TeamLoad[] = teamRows.map((team) => {
    const people = everyone.filter((person) => person.teamIds.includes(team.id));
    const scheduledHours = people.reduce((sum, person) => sum + person.scheduledHours, 0);
    const capacityHours = people.reduce((sum, person) => sum + person.capacityHours, 0);
    return { teamId: team.id, name: team.name, members: people.length, scheduledHours, capacityHours, utilization: ratio(scheduledHours, capacityHours) };
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
