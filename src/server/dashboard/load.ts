import type { PersonLoad } from '../../shared/dashboard.ts';
import { Prisma } from '../../generated/prisma/client.ts';
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

/** The one definition of booked hours: `("assigneeId", hours)` rows of the week, of everyone assigned or of one person. */
function bookingsSql(orgId: string, week: Week, userId?: string): Prisma.Sql {
  const whose = (column: string) => (userId ? Prisma.sql`${Prisma.raw(column)} = ${userId}` : Prisma.sql`${Prisma.raw(column)} IS NOT NULL`);
  return Prisma.sql`
    SELECT "assigneeId", COALESCE("estimatedHours", 0) AS hours FROM "Job"
    WHERE "orgId" = ${orgId} AND ${whose('"assigneeId"')} AND "scheduledAt" >= ${week.start} AND "scheduledAt" < ${week.end} AND status <> 'cancelled'
    UNION ALL
    SELECT "assigneeId", EXTRACT(EPOCH FROM ("endsAt" - "startsAt")) / 3600 FROM "Appointment"
    WHERE "orgId" = ${orgId} AND ${whose('"assigneeId"')} AND "startsAt" >= ${week.start} AND "startsAt" < ${week.end} AND status <> 'cancelled'`;
}

/** Booked hours in `week` by person, of everyone in the org. */
export async function bookedHours(db: Tx, orgId: string, week: Week): Promise<Map<string, number>> {
  const rows = await db.$queryRaw<{ assigneeId: string; hours: number }[]>`
    SELECT "assigneeId", SUM(hours)::float8 AS hours FROM (${bookingsSql(orgId, week)}) AS booked GROUP BY "assigneeId"`;
  return new Map(rows.map((row) => [row.assigneeId, Number(row.hours)]));
}

/** One person's load in a week, their own capacity or else `defaultCapacity`; null when they are not of the org. */
export async function personLoad(db: Tx, orgId: string, userId: string, week: Week, defaultCapacity: number): Promise<PersonLoad | null> {
  // One statement: it runs inside the commit of the change that moved them.
  const [row] = await db.$queryRaw<{ capacity: number | null; hours: number }[]>`
    SELECT u."weeklyCapacityHours" AS capacity, (SELECT COALESCE(SUM(hours), 0) FROM (${bookingsSql(orgId, week, userId)}) AS booked)::float8 AS hours
    FROM "User" u WHERE u.id = ${userId} AND u."orgId" = ${orgId}`;
  if (!row) return null;
  const scheduledHours = Number(row.hours);
  const capacityHours = row.capacity ?? defaultCapacity;
  return { userId, weekStart: week.start.toISOString(), scheduledHours, capacityHours, utilization: utilizationOf(scheduledHours, capacityHours) };
}
