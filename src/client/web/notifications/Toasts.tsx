import { useEffect, useState, useSyncExternalStore } from 'react';
import type { Notification as AppNotification } from '../../../shared/notifications.ts';
import { KindIcon, targetOf } from './kinds.tsx';
import { useNotifications } from './NotificationsProvider.tsx';

/** How long a toast stays while the page is in front and nobody points at it or focuses it. */
export const TOAST_MS = 6_000;

function subscribeVisibility(listener: () => void) {
  document.addEventListener('visibilitychange', listener);
  return () => document.removeEventListener('visibilitychange', listener);
}

function usePageVisible(): boolean {
  return useSyncExternalStore(subscribeVisibility, () => document.visibilityState !== 'hidden');
}

/**
 * New notifications as toasts, stacked in a corner over the page (fixed, so nothing on the
 * page moves). The region is a polite live region that exists before anything is put in it,
 * so screen readers announce each new toast.
 */
export function Toasts() {
  const { toasts, dismiss, open } = useNotifications();
  return (
    <div className="toasts" role="status" aria-live="polite" aria-atomic="false" aria-relevant="additions" aria-label="New notifications">
      {toasts.map((notification) => (
        <Toast key={notification.id} notification={notification} onDismiss={dismiss} onOpen={open} />
      ))}
    </div>
  );
}

/**
 * One toast. It goes by itself after `TOAST_MS`, counted only while the page is visible and
 * the toast is neither hovered nor focused (so it can be read, and reached by keyboard).
 */
export function Toast({ notification, onDismiss, onOpen }: { notification: AppNotification; onDismiss: (id: string) => void; onOpen: (notification: AppNotification) => void }) {
  const [hovered, setHovered] = useState(false);
  const [focused, setFocused] = useState(false);
  const visible = usePageVisible();
  const { id, kind, title, body } = notification;
  useEffect(() => {
    if (hovered || focused || !visible) return;
    const timer = setTimeout(() => onDismiss(id), TOAST_MS);
    return () => clearTimeout(timer);
  }, [hovered, focused, visible, id, onDismiss]);

  const target = targetOf(notification);
  // An article: one notification, a self-contained item the pointer and focus handlers only observe (to hold the timer).
  return (
    <article
      className="toast"
      aria-label={title}
      data-testid="toast"
      data-kind={kind}
      onPointerEnter={() => setHovered(true)}
      onPointerLeave={() => setHovered(false)}
      onFocus={() => setFocused(true)}
      onBlur={(event) => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setFocused(false);
      }}
    >
      <KindIcon kind={kind} />
      <div className="toast-text">
        <p className="toast-title">{title}</p>
        {body ? <p className="toast-body">{body}</p> : null}
      </div>
      <div className="toast-actions">
        {target ? (
          <button type="button" className="button small" aria-label={`Open: ${title}`} onClick={() => onOpen(notification)}>
            Open
          </button>
        ) : null}
        <button type="button" className="toast-close" aria-label={`Dismiss: ${title}`} title="Dismiss" onClick={() => onDismiss(id)}>
          <span aria-hidden="true">×</span>
        </button>
      </div>
    </article>
  );
}
