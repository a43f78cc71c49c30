import type { CrmEvent } from '../../shared/events.ts';
import type { NotificationKind } from '../../shared/notifications.ts';

export interface NotificationDraft {
  userId: string;
  kind: NotificationKind;
  title: string;
  body: string | null;
  module: string;
  recordId: string;
}

/** The user a job event hands the job to, when it does (created with an assignee, or reassigned). */
export function newAssigneeOf(event: CrmEvent): string | null {
  if (event.module !== 'jobs') return null;
  if (event.action === 'created') return event.data.assigneeId ?? null;
  if (event.action === 'updated') return event.data.assigneeId?.to ?? null;
  return null;
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

/** Whether `event` raised a notification for `userId` (the same rule as `notificationsFor`). */
export function notifies(userId: string, event: CrmEvent): boolean {
  const assignee = newAssigneeOf(event);
  return assignee === userId && assignee !== event.userId;
}
