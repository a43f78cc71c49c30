import { skipToken } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { isSocketDown } from '../../trpc.ts';
import type { Notification as AppNotification } from '../../../shared/notifications.ts';
import { errorCode } from '../modules/api.ts';
import { navigate } from '../router.tsx';
import { useConnectionSnapshot } from '../TandemProvider.tsx';
import { trpc } from '../trpc.ts';
import { takeNews, withNotification, withRead, type NotificationPage } from './cache.ts';
import { desktopPermission, requestDesktopPermission, showDesktopNotification, watchDesktopPermission, type DesktopPermission } from './desktop.ts';
import { targetOf } from './kinds.tsx';
import { useRetryAfterServerError } from '../realtime/useRetryAfterServerError.ts';

export interface NotificationsValue {
  /** The newest notifications, newest first; undefined until loaded. */
  page: NotificationPage | undefined;
  status: 'pending' | 'error' | 'success';
  /** Whether new notifications are being followed (the stream started, or the list is polled while the socket is down). */
  listening: boolean;
  unread: number;
  /** Shown as toasts now, newest first. */
  toasts: readonly AppNotification[];
  dismiss(id: string): void;
  /** Goes to the notification's record (when it has one) and marks it read. */
  open(notification: AppNotification): void;
  markAllRead(): void;
  desktop: DesktopPermission;
  /** Asks the browser for permission to show desktop notifications. */
  enableDesktop(): void;
}

const NotificationsContext = createContext<NotificationsValue | null>(null);

/** The list input the app shows (and patches in the cache). */
export const NOTIFICATIONS_INPUT = { limit: 30 };
const MAX_TOASTS = 4;
const MAX_DESKTOP_AT_ONCE = 3;
/** `notifications.onNew` needs the socket; while it is down the list is polled this often instead. */
const POLL_WHILE_SOCKET_DOWN_MS = 5_000;

/**
 * The signed-in user's notifications: the newest ones (`notifications.list`), kept current
 * by `notifications.onNew` over the socket and by polling the list while the socket is down.
 * Each new one is announced once: a toast, and a desktop notification when permitted and
 * the tab is not in front. Mount once per session.
 */
export function NotificationsProvider({ children }: { children: ReactNode }) {
  const utils = trpc.useUtils();
  const { state } = useConnectionSnapshot();
  const list = trpc.notifications.list.useQuery(NOTIFICATIONS_INPUT, { refetchInterval: isSocketDown(state) ? POLL_WHILE_SOCKET_DOWN_MS : false });

  // Where the stream starts: the head of the log when this mounted, asked afresh (not from
  // the cache) and fixed from then on. Everything raised later is news; everything before is
  // in the list.
  const [from, setFrom] = useState<string>();
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ask = () =>
      utils.client.events.head.query().then(
        ({ lastEventId }) => void (stopped || setFrom((current) => current ?? lastEventId)),
        (error: unknown) => {
          if (!stopped && errorCode(error) !== 'UNAUTHORIZED') timer = setTimeout(ask, 2_000);
        },
      );
    void ask();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [utils]);

  const startedOnce = useRef(false);
  const subscription = trpc.notifications.onNew.useSubscription(from === undefined ? skipToken : { lastEventId: from }, {
    onStarted() {
      // The list may have been read before the head: read it again now that the stream covers what follows.
      if (startedOnce.current) return;
      startedOnce.current = true;
      void utils.notifications.list.invalidate();
    },
    onData({ data }) {
      if ('type' in data) {
        // RESYNC: the stream could not resume exactly; the list is the truth.
        void utils.notifications.list.invalidate();
        return;
      }
      utils.notifications.list.setData(NOTIFICATIONS_INPUT, (page) => withNotification(page, data));
      // A list request already under way may have been answered before this one existed:
      // ask again, so its answer does not take the new one away.
      void utils.notifications.list.invalidate();
    },
  });
  useRetryAfterServerError(subscription, { onRetry: () => (startedOnce.current = false) });
  // New ones are announced once the start is known and either the stream runs or the list is polled.
  const listening = from !== undefined && (subscription.status === 'pending' || isSocketDown(state));

  const markRead = trpc.notifications.markRead.useMutation({
    async onMutate(input) {
      await utils.notifications.list.cancel();
      utils.notifications.list.setData(NOTIFICATIONS_INPUT, (page) => withRead(page, input, new Date().toISOString()));
    },
    onSuccess(result) {
      utils.notifications.list.setData(NOTIFICATIONS_INPUT, (page) => page && { ...page, unread: result.unread });
    },
    onSettled() {
      void utils.notifications.list.invalidate();
    },
  });
  const { mutate: markReadMutate } = markRead;

  const [toasts, setToasts] = useState<readonly AppNotification[]>([]);
  const dismiss = useCallback((id: string) => setToasts((current) => current.filter((toast) => toast.id !== id)), []);
  const open = useCallback(
    (notification: AppNotification) => {
      dismiss(notification.id);
      if (!notification.readAt) markReadMutate({ ids: [notification.id] });
      const target = targetOf(notification);
      if (target) navigate(target);
    },
    [dismiss, markReadMutate],
  );
  const markAllRead = useCallback(() => {
    setToasts([]);
    markReadMutate({ all: true });
  }, [markReadMutate]);

  const [desktop, setDesktop] = useState<DesktopPermission>(desktopPermission);
  useEffect(() => watchDesktopPermission(setDesktop), []);
  const enableDesktop = useCallback(() => void requestDesktopPermission().then(setDesktop), []);

  // Announce what is news, once each, whichever way it arrived (live, polled, replayed).
  const announced = useRef(new Set<string>());
  const openRef = useRef(open);
  openRef.current = open;
  useEffect(() => {
    if (!list.data || from === undefined) return;
    const news = takeNews(list.data, Number(from), announced.current);
    if (news.length === 0) return;
    setToasts((current) => [...news, ...current].slice(0, MAX_TOASTS));
    // The toast is enough for someone looking at this tab.
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    if (news.length > MAX_DESKTOP_AT_ONCE) {
      // Many at once (back from a long time offline): one summary, not a flood.
      showDesktopNotification(`${news.length} new notifications`, { body: news.map((notification) => notification.title).join('\n'), tag: 'tandem-notifications' });
      return;
    }
    for (const notification of news) {
      showDesktopNotification(notification.title, { body: notification.body, tag: notification.id, onClick: () => openRef.current(notification) });
    }
  }, [list.data, from]);

  const unread = list.data?.unread ?? 0;
  useDocumentTitleCount(unread);

  const value = useMemo<NotificationsValue>(
    () => ({ page: list.data, status: list.status, listening, unread, toasts, dismiss, open, markAllRead, desktop, enableDesktop }),
    [list.data, list.status, listening, unread, toasts, dismiss, open, markAllRead, desktop, enableDesktop],
  );
  return <NotificationsContext.Provider value={value}>{children}</NotificationsContext.Provider>;
}

/** "(2) Tandem CRM": the unread count in the tab's title, for a tab in the background. */
function useDocumentTitleCount(unread: number) {
  useEffect(() => {
    const base = document.title.replace(/^\(\d+\+?\) /, '');
    document.title = unread > 0 ? `(${unread > 99 ? '99+' : unread}) ${base}` : base;
    return () => void (document.title = base);
  }, [unread]);
}

export function useNotifications(): NotificationsValue {
  const value = useContext(NotificationsContext);
  if (!value) throw new Error('useNotifications outside NotificationsProvider');
  return value;
}
