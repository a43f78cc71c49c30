import type { JOB_STATUSES } from './modules.ts';

export interface CrewLoad {
  userId: string;
  name: string;
  /** Estimated hours of this week's scheduled jobs assigned to them. */
  scheduledHours: number;
  capacityHours: number;
  /** scheduledHours / capacityHours, 0..∞ (over 1 is overbooked). */
  utilization: number;
}

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
  crew: CrewLoad[];
  /** ISO-8601: when these were computed. */
  asOf: string;
}
