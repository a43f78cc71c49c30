import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import type { Notification as AppNotification } from '../../../shared/notifications.ts';
import { formatDateTime } from '../modules/format.ts';
import { formatAge, KindIcon } from './kinds.tsx';
import { useNotifications } from './NotificationsProvider.tsx';

/** "99+" past two digits, so the badge keeps its size. */
export function badgeText(unread: number): string {
  return unread > 99 ? '99+' : String(unread);
}

/**
 * The header's bell: the unread count on it, and on click a panel with the newest
 * notifications (unread ones bold). Escape or a click elsewhere closes the panel and
 * gives the focus back to the bell.
 */
export function NotificationBell() {
  const { page, status, listening, unread, open, markAllRead, desktop, enableDesktop } = useNotifications();
  const [expanded, setExpanded] = useState(false);
  const panelId = useId();
  const headingId = useId();
  const container = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!expanded) return;
    panel.current?.focus();
    const outside = (event: PointerEvent) => {
      if (!container.current?.contains(event.target as Node)) setExpanded(false);
    };
    document.addEventListener('pointerdown', outside);
    return () => document.removeEventListener('pointerdown', outside);
  }, [expanded]);

  /** On the bell and on the panel: where the focus is while the panel is open. */
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key !== 'Escape' || !expanded) return;
    event.preventDefault();
    setExpanded(false);
    button.current?.focus();
  };

  const items = page?.items ?? [];
  return (
    <div className="bell" ref={container}>
      <button
        ref={button}
        type="button"
        onKeyDown={onKeyDown}
        className="bell-button"
        aria-label={unread > 0 ? `Notifications, ${unread} unread` : 'Notifications'}
        aria-haspopup="dialog"
        aria-expanded={expanded}
        aria-controls={expanded ? panelId : undefined}
        onClick={() => setExpanded((current) => !current)}
        data-testid="bell"
        data-listening={listening}
      >
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
          <g fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
            <path d="M6 17V11a6 6 0 0 1 12 0v6l2 2H4z" />
            <path d="M10 21h4" />
          </g>
        </svg>
        <span className="bell-badge" aria-hidden="true" hidden={unread === 0} data-testid="notification-badge">
          {badgeText(unread)}
        </span>
      </button>
      {expanded ? (
        <div
          id={panelId}
          ref={panel}
          className="notifications-panel"
          role="dialog"
          aria-labelledby={headingId}
          tabIndex={-1}
          onKeyDown={onKeyDown}
          data-testid="notifications-panel"
        >
          <div className="notifications-head">
            <h2 id={headingId}>Notifications</h2>
            <button type="button" className="button small ghost" onClick={markAllRead} disabled={unread === 0}>
              Mark all read
            </button>
          </div>
          {desktop === 'default' ? (
            <p className="desktop-offer">
              <button type="button" className="link-button" onClick={enableDesktop}>
                Enable desktop notifications
              </button>
            </p>
          ) : null}
          {status === 'pending' ? <p className="muted notifications-empty">Loading…</p> : null}
          {status === 'error' && items.length === 0 ? (
            <p className="error notifications-empty" role="alert">
              Notifications could not be loaded.
            </p>
          ) : null}
          {status === 'success' && items.length === 0 ? <p className="muted notifications-empty">Nothing yet. You will be told here when something needs you.</p> : null}
          {items.length > 0 ? (
            <NotificationList
              items={items}
              labelledBy={headingId}
              onOpen={(notification) => {
                open(notification);
                setExpanded(false);
              }}
            />
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** The time now, again every `intervalMs`, so ages move while the panel is open. */
function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function NotificationList({ items, labelledBy, onOpen }: { items: AppNotification[]; labelledBy: string; onOpen: (notification: AppNotification) => void }) {
  const now = useNow(60_000);
  return (
    <ul className="notification-list" aria-labelledby={labelledBy}>
      {items.map((notification) => (
        <li key={notification.id}>
          <NotificationRow notification={notification} now={now} onOpen={() => onOpen(notification)} />
        </li>
      ))}
    </ul>
  );
}

export function NotificationRow({ notification, now, onOpen }: { notification: AppNotification; now: number; onOpen: () => void }) {
  const unread = !notification.readAt;
  return (
    <button type="button" className={`notification${unread ? ' unread' : ''}`} onClick={onOpen} data-testid="notification" data-kind={notification.kind}>
      <KindIcon kind={notification.kind} />
      <span className="notification-text">
        <span className="notification-title">
          {unread ? <span className="visually-hidden">Unread: </span> : null}
          {notification.title}
        </span>
        {notification.body ? <span className="notification-body">{notification.body}</span> : null}
        <time className="notification-time" dateTime={notification.createdAt} title={formatDateTime(notification.createdAt)}>
          {formatAge(notification.createdAt, now)}
        </time>
      </span>
      {unread ? <span className="unread-dot" aria-hidden="true" /> : null}
    </button>
  );
}
