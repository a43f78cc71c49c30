import type { CrmEvent } from '../../shared/events.ts';
import type { NotificationKind } from '../../shared/notifications.ts';
import type { Tx } from '../db/client.ts';
import type { EventDraft } from './log.ts';

/** A notification written in the same transaction as the event that raised it. */
export interface NotificationDraft {
  userId: string;
  kind: NotificationKind;
  title: string;
  body: string | null;
  module: string;
  recordId: string;
}

/**
 * What a committed record change may raise in its own transaction: notifications,
 * further events (alerts). The domains that react to changes register one at start
 * (bootstrap.ts), so that the event log knows none of them and none imports it back
 * for this.
 */
export interface ChangeEffect {
  /** Cheap, from the change alone: whether it could raise anything. When no effect could, a record change may be written as one statement (commit-statement.ts). */
  mayFollow(module: string, action: string, data: Record<string, unknown>): boolean;
  /**
   * For a change `mayFollow` lets through: the current values (by field) with which it
   * could still raise something, e.g. `{ status: ['cancelled'] }` for an update out of
   * `cancelled`, which its preview cannot show. A one-statement write leaves a record
   * holding one of them to the general strategy, which runs the effects.
   */
  mayFollowFrom?(module: string, action: string, data: Record<string, unknown>): CurrentValues | undefined;
  /** Notifications to write with the event. */
  notificationsFor?(event: CrmEvent, record: Record<string, unknown>): NotificationDraft[];
  /** Further events of the same change, written after it in its transaction. */
  eventsFor?(tx: Tx, event: CrmEvent, record: Record<string, unknown>): Promise<EventDraft[]>;
}

const effects: ChangeEffect[] = [];

/** Registers an effect for every commit of this process; the same effect twice is kept once. */
export function registerChangeEffect(effect: ChangeEffect): void {
  if (!effects.includes(effect)) effects.push(effect);
}

export function changeEffects(): readonly ChangeEffect[] {
  return effects;
}

/** Values of a record's fields before a change, by field. */
export type CurrentValues = Readonly<Record<string, readonly unknown[]>>;

/** What the effects ask a one-statement write not to write over (see `mayFollowFrom`); undefined: nothing. */
export function effectsMayFollowFrom(module: string, action: string, data: Record<string, unknown>): CurrentValues | undefined {
  let from: Record<string, unknown[]> | undefined;
  for (const effect of effects) {
    for (const [field, values] of Object.entries(effect.mayFollowFrom?.(module, action, data) ?? {})) {
      from ??= {};
      from[field] = [...(from[field] ?? []), ...values];
    }
  }
  return from;
}

/** Whether any registered effect could follow this change. */
export function effectsMayFollow(module: string, action: string, data: Record<string, unknown>): boolean {
  for (const effect of effects) if (effect.mayFollow(module, action, data)) return true;
  return false;
}
