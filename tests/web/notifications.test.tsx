// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { TRPCClientError, type OperationResultEnvelope, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { ConnectionStatus } from '../../src/client/trpc.ts';
import { NotificationBell } from '../../src/client/web/notifications/NotificationBell.tsx';
import { NotificationsProvider } from '../../src/client/web/notifications/NotificationsProvider.tsx';
import { Toast, Toasts, TOAST_MS } from '../../src/client/web/notifications/Toasts.tsx';
import { ConnectionContext, TandemProvider } from '../../src/client/web/TandemProvider.tsx';
import { trpc } from '../../src/client/web/trpc.ts';
import type { AppRouter } from '../../src/server/routers/_app.ts';
import type { ResyncSignal } from '../../src/shared/events.ts';
import type { Notification as AppNotification } from '../../src/shared/notifications.ts';
import { startTestServer } from '../helpers/server.ts';

/** A kind the server may send that the app does not know (yet). */
type AnyKind = AppNotification['kind'];

const note = (id: string, eventSeq: number, overrides: Partial<Omit<AppNotification, 'kind'>> & { kind?: string } = {}): AppNotification => ({
  id,
  title: `Notification ${id}`,
  body: null,
  module: 'jobs',
  recordId: `job-${id}`,
  eventSeq,
  readAt: null,
  createdAt: new Date().toISOString(),
  ...overrides,
  kind: (overrides.kind ?? 'job_assigned') as AnyKind,
});

/**
 * The notifications API in memory, behind a terminating tRPC link: answers list, markRead
 * and events.head like the server, and lets the test push items into `notifications.onNew`.
 */
function createFakeServer(initial: AppNotification[], head: number) {
  const items = [...initial];
  const streams = new Set<{ next(envelope: OperationResultEnvelope<unknown, TRPCClientError<AppRouter>>): void }>();
  const calls: { path: string; input: unknown }[] = [];
  const list = () => {
    const sorted = [...items].sort((a, b) => b.eventSeq - a.eventSeq);
    return { items: sorted.map((item) => ({ ...item })), unread: sorted.filter((item) => !item.readAt).length, nextBefore: null };
  };
  const answer = (path: string, input: unknown): unknown => {
    switch (path) {
      case 'notifications.list':
        return list();
      case 'events.head':
        return { lastEventId: String(head) };
      case 'notifications.markRead': {
        const selection = input as { ids?: string[]; all?: true };
        let marked = 0;
        for (const item of items) {
          if (item.readAt || (!selection.all && !selection.ids?.includes(item.id))) continue;
          item.readAt = new Date().toISOString();
          marked += 1;
        }
        return { marked, unread: list().unread };
      }
      default:
        throw new Error(`unexpected call ${path}`);
    }
  };
  const link: TRPCLink<AppRouter> =
    () =>
    ({ op }) =>
      observable((observer) => {
        calls.push({ path: op.path, input: op.input });
        if (op.type === 'subscription') {
          streams.add(observer);
          observer.next({ result: { type: 'started' } });
          return () => void streams.delete(observer);
        }
        let cancelled = false;
        void Promise.resolve().then(() => {
          if (cancelled) return;
          try {
            observer.next({ result: { type: 'data', data: answer(op.path, op.input) } });
            observer.complete();
          } catch (error) {
            observer.error(TRPCClientError.from(error as Error));
          }
        });
        return () => void (cancelled = true);
      });
  return {
    items,
    calls,
    link,
    callsTo: (path: string) => calls.filter((call) => call.path === path),
    subscribed: () => streams.size > 0,
    /** A notification raised on the server: stored, then sent to the live stream. */
    raise(item: AppNotification) {
      items.push(item);
      this.send(item);
    },
    send(data: AppNotification | ResyncSignal) {
      const id = 'eventSeq' in data ? String(data.eventSeq) : data.lastEventId;
      for (const stream of streams) stream.next({ result: { type: 'data', id, data: { id, data } } });
    },
  };
}

const openConnection: ConnectionStatus = { state: 'open', attempt: 0, subscribe: () => () => undefined, reconnect: () => undefined };

function mountWithFake(server: ReturnType<typeof createFakeServer>) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const client = trpc.createClient({ links: [server.link] });
  return render(
    <ConnectionContext.Provider value={openConnection}>
      <trpc.Provider client={client} queryClient={queryClient}>
        <QueryClientProvider client={queryClient}>
          <NotificationsProvider>
            <NotificationBell />
            <Toasts />
          </NotificationsProvider>
        </QueryClientProvider>
      </trpc.Provider>
    </ConnectionContext.Provider>,
  );
}

const badge = () => screen.getByTestId('notification-badge');
const bell = () => screen.getByTestId('bell');
const toastTitles = () => screen.queryAllByTestId('toast').map((toast) => toast.querySelector('.toast-title')?.textContent);

/** A stand-in for the browser's Notification API. */
function installDesktopApi(permission: NotificationPermission) {
  const shown: { title: string; options: NotificationOptions; instance: { onclick: (() => void) | null; close: () => void } }[] = [];
  class FakeNotification {
    static permission = permission;
    static requestPermission = vi.fn(async () => {
      FakeNotification.permission = 'granted';
      return 'granted' as const;
    });
    onclick: (() => void) | null = null;
    close = vi.fn();
    constructor(title: string, options: NotificationOptions) {
      shown.push({ title, options, instance: this });
    }
  }
  vi.stubGlobal('Notification', FakeNotification);
  return { FakeNotification, shown };
}

beforeEach(() => window.history.replaceState(null, '', '/escrows'));
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('the notifications bell', () => {
  it('counts unread ones and toasts each one raised while open, of any kind, once', async () => {
    const server = createFakeServer([note('old', 5, { title: 'Job assigned to you: Old gate' })], 10);
    mountWithFake(server);
    await vi.waitFor(() => expect(badge().textContent).toBe('1'));
    expect(bell().getAttribute('aria-label')).toBe('Notifications, 1 unread');
    await vi.waitFor(() => expect(server.subscribed()).toBe(true));
    // The stream starts at the head of the log; what came before is only listed.
    expect(server.callsTo('notifications.onNew')[0]!.input).toEqual({ lastEventId: '10' });
    expect(toastTitles()).toEqual([]);

    act(() => server.raise(note('call', 11, { kind: 'call_missed', title: 'Missed call from 555-0100', body: 'No message left', module: 'calls', recordId: 'c1' })));
    await vi.waitFor(() => expect(badge().textContent).toBe('2'));
    expect(toastTitles()).toEqual(['Missed call from 555-0100']);
    const callToast = screen.getAllByTestId('toast')[0]!;
    expect(callToast.textContent).toContain('No message left');
    expect(callToast.querySelector('svg.kind-call_missed')).not.toBeNull();
    // A call leads to the calls page.
    expect(within(callToast).getByRole('button', { name: 'Open: Missed call from 555-0100' })).toBeTruthy();
    // The toasts are in a polite live region.
    expect(screen.getByRole('status', { name: 'New notifications' }).contains(callToast)).toBe(true);

    act(() => server.raise(note('future', 12, { kind: 'brand_new_kind', title: 'Something new happened', module: null, recordId: null })));
    await vi.waitFor(() => expect(toastTitles()).toEqual(['Something new happened', 'Missed call from 555-0100']));
    expect(screen.getAllByTestId('toast')[0]!.querySelector('svg.kind-other')).not.toBeNull();

    // The same one again (replayed after a reconnect): no second toast, not counted twice.
    act(() => server.send(note('future', 12, { kind: 'brand_new_kind', title: 'Something new happened', module: null, recordId: null })));
    await vi.waitFor(() => expect(server.callsTo('notifications.list').length).toBeGreaterThanOrEqual(4));
    expect(toastTitles()).toEqual(['Something new happened', 'Missed call from 555-0100']);
    expect(badge().textContent).toBe('3');

    fireEvent.click(within(screen.getAllByTestId('toast')[1]!).getByRole('button', { name: 'Dismiss: Missed call from 555-0100' }));
    expect(toastTitles()).toEqual(['Something new happened']);
  });

  it('refetches the list on a RESYNC, and announces what it missed', async () => {
    const server = createFakeServer([], 20);
    mountWithFake(server);
    await vi.waitFor(() => expect(server.subscribed()).toBe(true));
    await vi.waitFor(() => expect(badge().hidden).toBe(true));
    const fetched = server.callsTo('notifications.list').length;
    // Raised while this stream could not resume exactly: it only learns by the signal.
    server.items.push(note('missed', 25, { title: 'Job assigned to you: Missed one' }));
    act(() => server.send({ type: 'RESYNC', reason: 'unknown_event_id', modules: null, recordId: null, lastEventId: '26' }));
    await vi.waitFor(() => expect(badge().textContent).toBe('1'));
    expect(server.callsTo('notifications.list').length).toBeGreaterThan(fetched);
    expect(toastTitles()).toEqual(['Job assigned to you: Missed one']);
  });

  it('lists them newest first, unread in bold; opening one goes to its record and marks it read; "Mark all read" clears the rest', async () => {
    const server = createFakeServer(
      [
        note('a', 3, { title: 'Job assigned to you: A', recordId: 'job-a' }),
        note('b', 4, { title: 'Conversation for you', kind: 'conversation_assigned', module: 'conversations', recordId: 'conv-1' }),
        note('c', 2, { title: 'Job assigned to you: C', readAt: new Date(0).toISOString() }),
      ],
      10,
    );
    mountWithFake(server);
    await vi.waitFor(() => expect(badge().textContent).toBe('2'));

    fireEvent.click(bell());
    const panel = screen.getByRole('dialog', { name: 'Notifications' });
    expect(bell().getAttribute('aria-expanded')).toBe('true');
    expect(document.activeElement).toBe(panel);
    const rows = within(panel).getAllByTestId('notification');
    expect(rows.map((row) => row.querySelector('.notification-title')!.textContent)).toEqual([
      'Unread: Conversation for you',
      'Unread: Job assigned to you: A',
      'Job assigned to you: C',
    ]);
    expect(rows.map((row) => row.classList.contains('unread'))).toEqual([true, true, false]);

    // Escape closes the panel and gives the focus back to the bell.
    fireEvent.keyDown(panel, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(bell());

    fireEvent.click(bell());
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: /Job assigned to you: A/ }));
    expect(window.location.pathname).toBe('/jobs/job-a');
    expect(screen.queryByRole('dialog')).toBeNull();
    await vi.waitFor(() => expect(badge().textContent).toBe('1'));
    expect(server.callsTo('notifications.markRead').map((call) => call.input)).toMatchObject([{ ids: ['a'] }]);

    // A conversation opens in the inbox.
    fireEvent.click(bell());
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: /Conversation for you/ }));
    expect(window.location.pathname).toBe('/inbox/conv-1');
    await vi.waitFor(() => expect(badge().hidden).toBe(true));

    act(() => server.raise(note('d', 11, { title: 'Job assigned to you: D' })));
    await vi.waitFor(() => expect(badge().textContent).toBe('1'));
    fireEvent.click(bell());
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Mark all read' }));
    await vi.waitFor(() => expect(badge().hidden).toBe(true));
    expect(server.callsTo('notifications.markRead').at(-1)!.input).toMatchObject({ all: true });
    expect(toastTitles()).toEqual([]);
    expect(within(screen.getByRole('dialog')).getByRole('button', { name: 'Mark all read' })).toHaveProperty('disabled', true);

    // A click elsewhere closes it.
    fireEvent.pointerDown(document.body);
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('offers desktop notifications while the browser has not been asked, and shows them when the tab is not in front', async () => {
    const { FakeNotification, shown } = installDesktopApi('default');
    const focus = vi.spyOn(document, 'hasFocus').mockReturnValue(true);
    const server = createFakeServer([], 10);
    mountWithFake(server);
    await vi.waitFor(() => expect(server.subscribed()).toBe(true));
    fireEvent.click(bell());
    await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Enable desktop notifications' })));
    expect(FakeNotification.requestPermission).toHaveBeenCalledOnce();
    await vi.waitFor(() => expect(screen.queryByRole('button', { name: 'Enable desktop notifications' })).toBeNull());

    // In front: the toast is enough.
    act(() => server.raise(note('seen', 11, { title: 'Job assigned to you: Seen' })));
    await vi.waitFor(() => expect(toastTitles()).toEqual(['Job assigned to you: Seen']));
    expect(shown).toEqual([]);

    focus.mockReturnValue(false);
    act(() => server.raise(note('away', 12, { title: 'Job assigned to you: Away', body: 'Back porch', recordId: 'job-away' })));
    await vi.waitFor(() => expect(shown).toHaveLength(1));
    expect(shown[0]).toMatchObject({ title: 'Job assigned to you: Away', options: { body: 'Back porch', tag: 'away' } });
    // Clicking it opens the record.
    vi.spyOn(window, 'focus').mockImplementation(() => undefined);
    act(() => shown[0]!.instance.onclick!());
    expect(window.location.pathname).toBe('/jobs/job-away');
    await vi.waitFor(() => expect(server.callsTo('notifications.markRead').map((call) => call.input)).toMatchObject([{ ids: ['away'] }]));

    // Many at once (found by a refetch after a RESYNC): one summary instead of a flood.
    for (const n of [13, 14, 15, 16]) server.items.push(note(`many-${n}`, n, { title: `Job assigned to you: ${n}` }));
    act(() => server.send({ type: 'RESYNC', reason: 'retention_exceeded', modules: null, recordId: null, lastEventId: '16' }));
    await vi.waitFor(() => expect(shown).toHaveLength(2));
    expect(shown[1]).toMatchObject({ title: '4 new notifications', options: { tag: 'tandem-notifications' } });
    expect(toastTitles()).toHaveLength(4);
  });

  it('does nothing with desktop notifications where they are denied or unsupported', async () => {
    vi.spyOn(document, 'hasFocus').mockReturnValue(false);
    const { shown } = installDesktopApi('denied');
    const server = createFakeServer([], 10);
    mountWithFake(server);
    await vi.waitFor(() => expect(server.subscribed()).toBe(true));
    fireEvent.click(bell());
    expect(screen.queryByRole('button', { name: 'Enable desktop notifications' })).toBeNull();
    act(() => server.raise(note('x', 11)));
    await vi.waitFor(() => expect(toastTitles()).toEqual(['Notification x']));
    expect(shown).toEqual([]);
    cleanup();

    vi.stubGlobal('Notification', undefined);
    const other = createFakeServer([], 10);
    mountWithFake(other);
    await vi.waitFor(() => expect(other.subscribed()).toBe(true));
    fireEvent.click(bell());
    expect(screen.queryByRole('button', { name: 'Enable desktop notifications' })).toBeNull();
    act(() => other.raise(note('y', 11)));
    await vi.waitFor(() => expect(toastTitles()).toEqual(['Notification y']));
  });
});

describe('a toast', () => {
  it('goes by itself after about 6 s, not while pointed at or focused, and at once when dismissed', () => {
    vi.useFakeTimers();
    const onDismiss = vi.fn();
    const onOpen = vi.fn();
    const notification = note('t', 1, { title: 'Job assigned to you: T', body: 'Soon' });
    render(<Toast notification={notification} onDismiss={onDismiss} onOpen={onOpen} />);
    act(() => vi.advanceTimersByTime(TOAST_MS - 1));
    expect(onDismiss).not.toHaveBeenCalled();
    act(() => vi.advanceTimersByTime(1));
    expect(onDismiss).toHaveBeenCalledWith('t');

    onDismiss.mockClear();
    const toast = screen.getByTestId('toast');
    fireEvent.pointerEnter(toast);
    act(() => vi.advanceTimersByTime(TOAST_MS * 3));
    expect(onDismiss).not.toHaveBeenCalled();
    fireEvent.pointerLeave(toast);
    act(() => vi.advanceTimersByTime(TOAST_MS));
    expect(onDismiss).toHaveBeenCalledOnce();

    onDismiss.mockClear();
    const open = screen.getByRole('button', { name: 'Open: Job assigned to you: T' });
    act(() => open.focus());
    act(() => vi.advanceTimersByTime(TOAST_MS * 3));
    expect(onDismiss).not.toHaveBeenCalled();
    fireEvent.click(open);
    expect(onOpen).toHaveBeenCalledWith(notification);
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss: Job assigned to you: T' }));
    expect(onDismiss).toHaveBeenCalledWith('t');
  });
});

describe('notifications with the real server', () => {
  it('reach the bell live when a colleague assigns a job, and by polling the list while the WebSocket is blocked', async () => {
    await using server = await startTestServer();
    const bob = await server.caller('bob@acme.test');
    const alice = server.users['alice@acme.test'];
    const token = await server.tokenFor('alice@acme.test');
    const mount = (WebSocketImpl: typeof globalThis.WebSocket) =>
      render(
        <TandemProvider url={server.server.url} getToken={() => token} onUnauthorized={() => undefined} WebSocket={WebSocketImpl} retryDelayMs={() => 60_000} pollIntervalMs={50}>
          <NotificationsProvider>
            <NotificationBell />
            <Toasts />
          </NotificationsProvider>
        </TandemProvider>,
      );

    const live = mount(WebSocket as unknown as typeof globalThis.WebSocket);
    await vi.waitFor(() => expect(bell().dataset.listening).toBe('true'));
    const job = await bob.jobs.create({ title: 'Live gate' });
    await bob.jobs.update({ id: job.id, expectedVersion: 1, patch: { assigneeId: alice.id } });
    await vi.waitFor(() => expect(badge().textContent).toBe('1'), { timeout: 3_000 });
    await vi.waitFor(() => expect(toastTitles()).toEqual(['Job assigned to you: Live gate']));
    live.unmount();
    await vi.waitFor(() => expect(server.server.connectionCount()).toBe(0));

    // Every socket refused: the app polls the list instead (onNew needs the socket).
    class Blocked extends WebSocket {
      constructor(_url: string, protocols?: string | string[]) {
        super('ws://127.0.0.1:1/trpc', protocols);
      }
    }
    mount(Blocked as unknown as typeof globalThis.WebSocket);
    await vi.waitFor(() => expect(badge().textContent).toBe('1'));
    await vi.waitFor(() => expect(bell().dataset.listening).toBe('true'));
    const other = await bob.jobs.create({ title: 'Polled gate', assigneeId: alice.id });
    await vi.waitFor(() => expect(badge().textContent).toBe('2'), { timeout: 10_000 });
    await vi.waitFor(() => expect(toastTitles()).toEqual(['Job assigned to you: Polled gate']));
    expect(other.assigneeId).toBe(alice.id);
    // It came over HTTP: no socket ever opened.
    expect(server.server.connectionCount()).toBe(0);
  }, 30_000);
});
