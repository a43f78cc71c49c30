import { z } from 'zod';
import type { JOB_STATUSES } from './modules.ts';
import { idSchema } from './text.ts';

export interface CrewLoad {
  userId: string;
  name: string;
  /** Estimated hours of this week's scheduled jobs assigned to them, and the length of their appointments this week. */
  scheduledHours: number;
  capacityHours: number;
  /** scheduledHours / capacityHours, 0..∞ (over 1 is overbooked); 0 with no capacity. */
  utilization: number;
  /** The teams they are in. */
  teamIds: string[];
}

/**
 * A person's booked hours in one week (from Monday 00:00 UTC) against their capacity:
 * `load:updated` in the `teams` stream whenever a job or appointment moves them.
 */
export interface PersonLoad {
  userId: string;
  /** ISO-8601: the Monday 00:00 UTC that starts the week. */
  weekStart: string;
  scheduledHours: number;
  capacityHours: number;
  utilization: number;
}

/** A team's load this week: its people's scheduled hours against their capacities together. */
export interface TeamLoad {
  teamId: string;
  name: string;
  members: number;
  scheduledHours: number;
  capacityHours: number;
  utilization: number;
}

/** `dashboard.counters` and `onCounters`: `teamId` follows one team (its people in the crew table). */
export const countersInput = z.strictObject({ teamId: idSchema.optional() }).optional();

export interface DashboardCounters {
  jobsByStatus: Record<(typeof JOB_STATUSES)[number], number>;
  openJobs: number;
  appointmentsToday: number;
  newLeadsThisWeek: number;
  /** Open conversations. */
  activeConversations: number;
  /** Inbound messages of open conversations not read yet. */
  unreadMessages: number;
  /** Calls missed since midnight (UTC). */
  missedCallsToday: number;
  /** Everyone, or the followed team's people. */
  crew: CrewLoad[];
  teams: TeamLoad[];
  /** ISO-8601: when these were computed. */
  asOf: string;
}
