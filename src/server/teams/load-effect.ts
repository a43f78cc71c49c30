import type { CrmEvent } from '../../shared/events.ts';
import type { TeamEvent } from '../../shared/teams.ts';
import { personLoad, weekOf } from '../dashboard/load.ts';
import type { Tx } from '../db/client.ts';
import type { ChangeEffect, CurrentValues } from '../events/effects.ts';
import type { EventDraft } from '../events/log.ts';

/**
 * `load:updated`: a job or appointment scheduled, moved, resized, reassigned or cancelled
 * changes the booked hours of a person in a week (or two people, or two weeks). Each
 * such person and week gets an event with their load after the change, written in the
 * change's own transaction, so the log says how everyone's week moved and when.
 */

/** What places a record in someone's week, per module: the field that dates it and every field its hours depend on. */
const BOOKINGS = {
  jobs: { at: 'scheduledAt', fields: ['assigneeId', 'scheduledAt', 'estimatedHours', 'status'] },
  appointments: { at: 'startsAt', fields: ['assigneeId', 'startsAt', 'endsAt', 'status'] },
} as const;
type BookingModule = keyof typeof BOOKINGS;
const isBooking = (module: string): module is BookingModule => module in BOOKINGS;

/** Weekly hours of a person without their own (`WEEKLY_CAPACITY_HOURS`); process-wide, as the effects are (bootstrap.ts). */
let defaultCapacity = 40;
export function setDefaultWeeklyCapacity(hours: number): void {
  defaultCapacity = hours;
}

type Change = { from?: unknown; to?: unknown };
type Changes = Record<string, Change | undefined>;

/** Only a move to or from `cancelled` changes anyone's hours: new → scheduled → done does not. */
function movesHours(module: BookingModule, changes: Changes): boolean {
  return BOOKINGS[module].fields.some((field) => {
    const change = changes[field];
    if (!change) return false;
    return field !== 'status' || change.from === 'cancelled' || change.to === 'cancelled';
  });
}

/** Cheap, from the change alone: whether it could move anyone's hours (updates with no date or assignee are found out in `eventsFor`). */
function mayFollow(module: string, action: string, data: Record<string, unknown>): boolean {
  if (!isBooking(module)) return false;
  if (action === 'created') return typeof data.assigneeId === 'string' && data[BOOKINGS[module].at] != null;
  if (action === 'updated') {
    // A status moving along (new → scheduled → done) is a dispatcher's everyday change: it keeps the one-statement path unless it cancels.
    return BOOKINGS[module].fields.some((field) => field in data && (field !== 'status' || (data.status as Change | undefined)?.to === 'cancelled'));
  }
  return true;
}

/** Out of `cancelled` moves hours too, which an update's preview (no `from`) cannot show. */
const fromCancelled: CurrentValues = { status: ['cancelled'] };
const mayFollowFrom = (module: string, action: string, data: Record<string, unknown>) =>
  isBooking(module) && action === 'updated' && 'status' in data ? fromCancelled : undefined;

/** The person and week a record's hours count in, if any. */
function slotOf(module: BookingModule, record: Record<string, unknown>): { userId: string; at: Date } | null {
  const at = record[BOOKINGS[module].at];
  if (typeof record.assigneeId !== 'string' || record.status === 'cancelled' || (typeof at !== 'string' && !(at instanceof Date))) return null;
  return { userId: record.assigneeId, at: new Date(at) };
}

async function loadEventsFor(tx: Tx, event: CrmEvent, record: Record<string, unknown>): Promise<EventDraft[]> {
  const { module } = event;
  if (!isBooking(module)) return [];
  let slots: ({ userId: string; at: Date } | null)[];
  if (event.action === 'updated') {
    const changes = event.data as Changes;
    if (!movesHours(module, changes)) return [];
    const before = { ...record };
    for (const [field, change] of Object.entries(changes)) if (change) before[field] = change.from;
    slots = [slotOf(module, before), slotOf(module, record)];
  } else {
    // Created and restored carry the record after; deleted, the record as it was.
    slots = [slotOf(module, event.data as Record<string, unknown>)];
  }
  const weeks = new Map<string, { userId: string; week: ReturnType<typeof weekOf> }>();
  for (const slot of slots) {
    if (!slot) continue;
    const week = weekOf(slot.at);
    weeks.set(`${slot.userId} ${week.start.toISOString()}`, { userId: slot.userId, week });
  }
  const drafts: EventDraft[] = [];
  for (const { userId, week } of weeks.values()) {
    const load = await personLoad(tx, event.orgId, userId, week, defaultCapacity);
    if (!load) continue;
    const data: Extract<TeamEvent, { action: 'load:updated' }>['data'] = { load };
    drafts.push({ orgId: event.orgId, module: 'teams', action: 'load:updated', recordId: userId, version: 0, userId: event.userId, data });
  }
  return drafts;
}

/** Registered at start (bootstrap.ts): the log knows nothing of loads. */
export const loadEffect: ChangeEffect = { mayFollow, mayFollowFrom, eventsFor: loadEventsFor };
