import type { PersonLoad } from '../../shared/dashboard.ts';
import type { Tx } from '../db/client.ts';

/**
 * People's booked hours in a week: the estimated hours of their jobs scheduled in it and
 * the length of their appointments starting in it, neither cancelled. Weeks run from
 * Monday 00:00 UTC. The dashboard's table and the `load:updated` events both read it.
 */

export interface Week {
  start: Date;
  end: Date;
}

/** The week (Monday 00:00 UTC to the Monday after) of `at`. */
export function weekOf(at: Date): Week {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  start.setUTCDate(start.getUTCDate() - ((start.getUTCDay() + 6) % 7));
  const end = new Date(start);
  end.setUTCDate(end.getUTCDate() + 7);
  return { start, end };
}

export const utilizationOf = (hours: number, capacity: number) => (capacity > 0 ? hours / capacity : 0);

/** Booked hours in `week` by person, of everyone in the org or only of `userId`. */
export async function bookedHours(db: Tx, orgId: string, week: Week, userId?: string): Promise<Map<string, number>> {
  const [jobs, appointments] = await Promise.all([
    db.job.groupBy({
      by: ['assigneeId'],
      where: { orgId, assigneeId: userId ?? { not: null }, scheduledAt: { gte: week.start, lt: week.end }, status: { not: 'cancelled' } },
      _sum: { estimatedHours: true },
    }),
    // Summed in the database: an org's week may hold many appointments.
    userId
      ? db.$queryRaw<AppointmentHours[]>`
        SELECT "assigneeId", SUM(EXTRACT(EPOCH FROM ("endsAt" - "startsAt")) / 3600)::float8 AS hours FROM "Appointment"
        WHERE "orgId" = ${orgId} AND "assigneeId" = ${userId} AND "startsAt" >= ${week.start} AND "startsAt" < ${week.end} AND status <> 'cancelled'
        GROUP BY "assigneeId"`
      : db.$queryRaw<AppointmentHours[]>`
        SELECT "assigneeId", SUM(EXTRACT(EPOCH FROM ("endsAt" - "startsAt")) / 3600)::float8 AS hours FROM "Appointment"
        WHERE "orgId" = ${orgId} AND "assigneeId" IS NOT NULL AND "startsAt" >= ${week.start} AND "startsAt" < ${week.end} AND status <> 'cancelled'
        GROUP BY "assigneeId"`,
  ]);
  const hours = new Map<string, number>();
  for (const row of jobs) if (row.assigneeId) hours.set(row.assigneeId, row._sum.estimatedHours ?? 0);
  for (const row of appointments) hours.set(row.assigneeId, (hours.get(row.assigneeId) ?? 0) + Number(row.hours));
  return hours;
}

type AppointmentHours = { assigneeId: string; hours: number };

/** One person's load in a week, their own capacity or else `defaultCapacity`; null when they are not of the org. */
export async function personLoad(db: Tx, orgId: string, userId: string, week: Week, defaultCapacity: number): Promise<PersonLoad | null> {
  const [person, hours] = await Promise.all([db.user.findFirst({ where: { id: userId, orgId }, select: { weeklyCapacityHours: true } }), bookedHours(db, orgId, week, userId)]);
  if (!person) return null;
  const scheduledHours = hours.get(userId) ?? 0;
  const capacityHours = person.weeklyCapacityHours ?? defaultCapacity;
  return { userId, weekStart: week.start.toISOString(), scheduledHours, capacityHours, utilization: utilizationOf(scheduledHours, capacityHours) };
}
