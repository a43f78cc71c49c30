import type { ReactNode } from 'react';
import { MODULE_NAMES, type ModuleName } from '../../../shared/modules.ts';
import type { Notification as AppNotification } from '../../../shared/notifications.ts';

/**
 * What the app knows of each kind of notification: only its icon. Everything else is
 * rendered from `title` and `body`, so a kind the server adds later shows up as it is,
 * with the default icon, before the app learns about it.
 */
const icons: Record<string, ReactNode> = {
  // A clipboard with a check: work handed to you.
  job_assigned: (
    <>
      <rect x="6" y="4" width="12" height="17" rx="2" />
      <path d="M9 4V3h6v1M9 13l2 2 4-4" />
    </>
  ),
  // Two people: work given to your team, nobody on it yet.
  team_assigned: (
    <>
      <circle cx="9" cy="8" r="3" />
      <circle cx="17" cy="9" r="2.5" />
      <path d="M3 20a6 6 0 0 1 12 0M14 20a5 5 0 0 1 7-4.5" />
    </>
  ),
  // A speech bubble.
  conversation_assigned: <path d="M4 5h16v11H9l-5 4z" />,
  // A speech bubble with a dot: someone new writes.
  conversation_new: (
    <>
      <path d="M4 5h16v11H9l-5 4z" />
      <path d="M12 10.5v.01" />
    </>
  ),
  // A handset with a cross.
  call_missed: (
    <>
      <path d="M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a1 1 0 0 1-1 1A16 16 0 0 1 4 5a1 1 0 0 1 1-1z" />
      <path d="M15 3l5 5M20 3l-5 5" />
    </>
  ),
  // A calendar with a clock hand.
  appointment_reminder: (
    <>
      <rect x="3" y="5" width="18" height="16" rx="2" />
      <path d="M3 10h18M8 3v4M16 3v4M12 13v3h3" />
    </>
  ),
  // A warning triangle.
  alert: (
    <>
      <path d="M12 3l10 18H2z" />
      <path d="M12 10v5M12 18v.01" />
    </>
  ),
};

// A bell: any other kind.
const defaultIcon = (
  <>
    <path d="M6 17V11a6 6 0 0 1 12 0v6l2 2H4z" />
    <path d="M10 21h4" />
  </>
);

/** The icon of a kind of notification (a bell for kinds the app does not know), decorative. */
export function KindIcon({ kind }: { kind: string }) {
  return (
    <svg className={`kind-icon kind-${kind in icons ? kind : 'other'}`} viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
      <g fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
        {icons[kind] ?? defaultIcon}
      </g>
    </svg>
  );
}

/** The page a notification leads to: its record's, its conversation in the inbox, the calls; otherwise none. */
export function targetOf(notification: Pick<AppNotification, 'module' | 'recordId'>): string | null {
  const { module, recordId } = notification;
  if (module === 'calls') return '/calls';
  if (!module || !recordId) return null;
  if (module === 'conversations') return `/inbox/${encodeURIComponent(recordId)}`;
  if (!(MODULE_NAMES as readonly string[]).includes(module)) return null;
  return `/${module as ModuleName}/${encodeURIComponent(recordId)}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** "just now", "5 minutes ago", "yesterday"; the date itself after a week. */
export function formatAge(iso: string, now = Date.now()): string {
  const date = new Date(iso);
  const seconds = Math.round((date.getTime() - now) / 1000);
  if (Number.isNaN(seconds)) return iso;
  if (seconds > -45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes > -60) return relative.format(minutes, 'minute');
  const hours = Math.round(minutes / 60);
  if (hours > -24) return relative.format(hours, 'hour');
  const days = Math.round(hours / 24);
  if (days > -7) return relative.format(days, 'day');
  return absolute.format(date);
}
