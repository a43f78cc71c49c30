import { isRecordEvent, type CrmEvent, type LogEvent, type LogModule } from '../../shared/events.ts';
import type { ChangeEffect, NotificationDraft } from '../events/effects.ts';

export type { NotificationDraft };

/** The user a job event hands the job to, when it does (created with an assignee, or reassigned). */
export function newAssigneeOf(event: CrmEvent): string | null {
  return newAssigneeIn(event.module, event.action, event.data);
}

/**
 * The rule of `newAssigneeOf` over a change not yet written as an event (what
 * `mayNotify` is asked about): its data is a created record, or `{ field: { from, to } }`.
 */
function newAssigneeIn(module: string, action: string, data: Record<string, unknown>): string | null {
  if (module !== 'jobs') return null;
  const assignee = data.assigneeId;
  if (action === 'created') return typeof assignee === 'string' ? assignee : null;
  if (action === 'updated' && typeof assignee === 'object' && assignee !== null && 'to' in assignee) return typeof assignee.to === 'string' ? assignee.to : null;
  return null;
}

/** Whether a record change with this data can notify anyone (the rule of `notificationsFor`). */
export function mayNotify(module: string, action: string, data: Record<string, unknown>): boolean {
  return newAssigneeIn(module, action, data) !== null;
}

/**
 * The notifications an event raises, decided from the event and the record after it.
 * One definition, used both to write them (in the event's transaction) and to find
 * which events a user's notification stream needs.
 */
export function notificationsFor(event: CrmEvent, record: Record<string, unknown>): NotificationDraft[] {
  const assignee = newAssigneeOf(event);
  // Taking a job yourself is not news to you.
  if (!assignee || assignee === event.userId) return [];
  return [
    {
      userId: assignee,
      kind: 'job_assigned',
      title: `Job assigned to you: ${String(record.title ?? '')}`,
      body: null,
      module: 'jobs',
      recordId: event.recordId,
    },
  ];
}

/** The streams whose events can notify someone: what a notifications subscription reads. */
export const NOTIFYING_MODULES: readonly LogModule[] = ['jobs', 'conversations', 'calls', 'alerts', 'reminders', 'teams'];

/**
 * Whether `event` raised a notification for `userId`: for records the same rule as
 * `notificationsFor`; a communications event names the users it notified.
 */
export function notifies(userId: string, event: LogEvent): boolean {
  if (!isRecordEvent(event)) {
    const data = event.data as { notifiedUserIds?: string[] };
    return data.notifiedUserIds?.includes(userId) ?? false;
  }
  const assignee = newAssigneeOf(event);
  return assignee === userId && assignee !== event.userId;
}

/** Job assignments notify their assignee, in the change's own transaction (registered at start: events/effects.ts). */
export const notificationEffect: ChangeEffect = { mayFollow: mayNotify, notificationsFor };
