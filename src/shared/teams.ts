import { z } from 'zod';
import type { PersonLoad } from './dashboard.ts';
import type { StreamEventOf } from './events.ts';
import { withIdempotencyKey } from './mutations.ts';
import { idSchema, line } from './text.ts';

/**
 * Teams (divisions, crews) of an org: people in them, each person with their own weekly
 * capacity, and their changes as events of the org's log (`module: 'teams'`).
 */

export interface Team {
  id: string;
  name: string;
  version: number;
  /** Its people, by user id. */
  memberIds: string[];
}

/** A person's weekly capacity, and whether it is their own or the org's default. */
export interface Capacity {
  userId: string;
  weeklyHours: number;
  isDefault: boolean;
}

/** At most this many teams per org: what `teams.list` answers stays bounded. */
export const MAX_TEAMS_PER_ORG = 100;
export const MAX_WEEKLY_HOURS = 168;

const teamName = line(80).min(1, 'A team needs a name');
export const createTeamInput = z.strictObject({ name: teamName, ...withIdempotencyKey });
export const updateTeamInput = z.strictObject({ id: idSchema, name: teamName, ...withIdempotencyKey });
export const deleteTeamInput = z.strictObject({ id: idSchema, ...withIdempotencyKey });
export const teamMemberInput = z.strictObject({ teamId: idSchema, userId: idSchema, ...withIdempotencyKey });
export const setCapacityInput = z.strictObject({
  userId: idSchema,
  /** Null: back to the org's default (`WEEKLY_CAPACITY_HOURS`). */
  weeklyHours: z.number().min(0).max(MAX_WEEKLY_HOURS).nullable(),
  ...withIdempotencyKey,
});

/** `recordId` is the team's id; for `capacity:updated` and `load:updated`, the person's. */
type TeamEventOf<T extends string, D> = StreamEventOf<'teams', T, D>;

export type TeamEvent =
  | TeamEventOf<'team:created' | 'team:updated' | 'team:members', { team: Team }>
  | TeamEventOf<'team:deleted', { team: Team }>
  /** With the person's load this week at the new capacity. */
  | TeamEventOf<'capacity:updated', { capacity: Capacity; load: PersonLoad }>
  /** A job, lead or appointment given to the team with nobody assigned: its people were notified (`team_assigned`). */
  | TeamEventOf<'team:handed', { teamId: string; module: 'jobs' | 'leads' | 'appointments'; title: string; notifiedUserIds: string[] }>
  /** A job or appointment scheduled, moved, resized, reassigned or cancelled changed a person's week. */
  | TeamEventOf<'load:updated', { load: PersonLoad }>;
