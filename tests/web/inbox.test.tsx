// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { TRPCClientError, type OperationResultEnvelope, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionStatus } from '../../src/client/trpc.ts';
import { CallBanner } from '../../src/client/web/calls/CallBanner.tsx';
import { CallsProvider } from '../../src/client/web/calls/CallsProvider.tsx';
import { ConversationThread } from '../../src/client/web/inbox/ConversationThread.tsx';
import { useConversationsRealtime } from '../../src/client/web/inbox/useConversationsRealtime.ts';
import { SessionContext, type SessionValue } from '../../src/client/web/session/SessionContext.tsx';
import { ConnectionContext } from '../../src/client/web/TandemProvider.tsx';
import { trpc } from '../../src/client/web/trpc.ts';
import type { AppRouter } from '../../src/server/routers/_app.ts';
import type { Call, Conversation, Message } from '../../src/shared/comms.ts';

const ALICE = { id: 'alice', orgId: 'org', orgName: 'Acme Realty', email: 'alice@acme.test', name: 'Alice Anders', role: 'admin' as const };
const BOB = { id: 'bob', orgId: 'org', orgName: 'Acme Realty', email: 'bob@acme.test', name: 'Bob Brooks', role: 'agent' as const };
const now = () => new Date().toISOString();

type Handler = (input: unknown) => unknown;

/**
 * The API in memory behind a terminating tRPC link: queries and mutations answered by
 * `handlers` (by path; a thrown error becomes the call's error), subscriptions kept by
 * path so the test can push items into them.
 */
function createFakeServer(handlers: Record<string, Handler>) {
  const streams = new Map<string, Set<{ next(envelope: OperationResultEnvelope<unknown, TRPCClientError<AppRouter>>): void }>>();
  const calls: { path: string; input: unknown }[] = [];
  let seq = 0;
  const link: TRPCLink<AppRouter> =
    () =>
    ({ op }) =>
      observable((observer) => {
        calls.push({ path: op.path, input: op.input });
        if (op.type === 'subscription') {
          const set = streams.get(op.path) ?? new Set();
          streams.set(op.path, set);
          set.add(observer);
          observer.next({ result: { type: 'started' } });
          return () => void set.delete(observer);
        }
        let cancelled = false;
        void Promise.resolve()
          .then(() => {
            const handler = handlers[op.path];
            if (!handler) throw new Error(`unexpected call ${op.path}`);
            return handler(op.input);
          })
          .then(
            (data) => {
              if (cancelled) return;
              observer.next({ result: { type: 'data', data } });
              observer.complete();
            },
            (error: unknown) => {
              if (!cancelled) observer.error(error instanceof TRPCClientError ? error : TRPCClientError.from(error as Error));
            },
          );
        return () => void (cancelled = true);
      });
  return {
    link,
    callsTo: (path: string) => calls.filter((call) => call.path === path).map((call) => call.input),
    subscribed: (path: string) => (streams.get(path)?.size ?? 0) > 0,
    /** A tracked item on every subscription of `path`. */
    push(path: string, data: unknown) {
      const id = String(++seq);
      for (const stream of streams.get(path) ?? []) stream.next({ result: { type: 'data', id, data: { id, data } } });
    },
  };
}

const openConnection: ConnectionStatus = { state: 'open', attempt: 0, subscribe: () => () => undefined, reconnect: () => undefined };
const session: SessionValue = { token: 't', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), user: ALICE, signOut: () => undefined };

function mount(server: ReturnType<typeof createFakeServer>, children: ReactNode) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const client = trpc.createClient({ links: [server.link] });
  return render(
    <SessionContext.Provider value={session}>
      <ConnectionContext.Provider value={openConnection}>
        <trpc.Provider client={client} queryClient={queryClient}>
          <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
        </trpc.Provider>
      </ConnectionContext.Provider>
    </SessionContext.Provider>,
  );
}

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const conversation = (overrides: Partial<Conversation> = {}): Conversation => ({
  id: 'c1',
  orgId: 'org',
  version: 1,
  channel: 'sms',
  contactName: 'Maria Lopez',
  contactPhone: '+15557000001',
  orgNumber: '+15555550100',
  clientId: 'client-1',
  leadId: null,
  status: 'open',
  assigneeId: null,
  unreadCount: 1,
  lastMessageAt: now(),
  lastMessagePreview: 'Is it still available?',
  createdAt: now(),
  updatedAt: now(),
  ...overrides,
});

const inbound = (id: string, body: string): Message => ({
  id,
  conversationId: 'c1',
  direction: 'inbound',
  body,
  status: 'delivered',
  authorId: null,
  createdAt: now(),
  deliveredAt: now(),
  readAt: null,
  failedAt: null,
  failureReason: null,
  media: [],
});

function Thread() {
  useConversationsRealtime(ALICE.id);
  return <ConversationThread id="c1" />;
}

describe('a conversation thread', () => {
  function threadServer() {
    let current = conversation();
    let sent = 0;
    const control = { failSends: false, gate: Promise.resolve() };
    const server = createFakeServer({
      'conversations.byId': () => current,
      'messages.list': () => ({ items: [inbound('m1', 'Is it still available?')], nextCursor: null }),
      'messages.markRead': () => {
        current = { ...current, unreadCount: 0, version: current.version + 1 };
        return { read: 1, conversation: current };
      },
      'messages.send': async (input) => {
        const { body } = input as { body: string };
        await control.gate;
        if (control.failSends) throw new Error('The server is busy');
        sent += 1;
        current = { ...current, version: current.version + 1, lastMessagePreview: body };
        return {
          id: `out-${sent}`,
          conversationId: 'c1',
          direction: 'outbound',
          body,
          status: 'sent',
          authorId: ALICE.id,
          createdAt: now(),
          deliveredAt: null,
          readAt: null,
          failedAt: null,
          failureReason: null,
          media: [],
        } satisfies Message;
      },
      'users.list': () => ({ items: [ALICE, BOB], nextCursor: null }),
      'presence.view': () => ({ viewers: [] }),
      'presence.leave': () => ({ viewers: [] }),
      'typing.start': () => ({ ok: true }),
      'typing.stop': () => ({ ok: true }),
    });
    return { server, control, conversation: () => current };
  }

  it('marks itself read on opening, sends with Enter, and shows ticks moving forward only', async () => {
    const { server, control, conversation: current } = threadServer();
    let open!: () => void;
    control.gate = new Promise((resolve) => (open = resolve));
    mount(server, <Thread />);
    await screen.findByText('Is it still available?');
    expect(screen.getByRole('heading', { name: 'Maria Lopez' })).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Open client' }).getAttribute('href')).toBe('/clients/client-1');
    await vi.waitFor(() => expect(server.callsTo('messages.markRead')).toEqual([{ conversationId: 'c1' }]));
    expect(server.callsTo('presence.view')).toEqual([{ module: 'conversations', recordId: 'c1' }]);

    const reply = screen.getByLabelText('Reply') as HTMLTextAreaElement;
    fireEvent.change(reply, { target: { value: 'Yes, it is!' } });
    await vi.waitFor(() => expect(server.callsTo('typing.start')).toEqual([{ module: 'conversations', recordId: 'c1' }]));
    // Shift+Enter is a new line, not a send.
    fireEvent.keyDown(reply, { key: 'Enter', shiftKey: true });
    expect(server.callsTo('messages.send')).toEqual([]);
    fireEvent.keyDown(reply, { key: 'Enter' });
    expect(reply.value).toBe('');
    // The bubble shows at once, then becomes the server's with one tick.
    await screen.findByText('Sending…');
    expect(screen.getByText('Yes, it is!').closest('li')!.getAttribute('data-status')).toBe('sending');
    open();
    await vi.waitFor(() => expect(screen.getByText('Yes, it is!').closest('li')!.getAttribute('data-status')).toBe('sent'));
    expect(server.callsTo('messages.send')).toEqual([{ conversationId: 'c1', body: 'Yes, it is!' }]);
    expect(server.callsTo('typing.stop')).toEqual([{ module: 'conversations', recordId: 'c1' }]);
    const bubble = () => screen.getByText('Yes, it is!').closest('li')!;
    expect(within(bubble()).getByTestId('ticks').textContent).toBe('✓Sent');

    // The stream brings the same message (deduped), then delivery reports, one of them late.
    await vi.waitFor(() => expect(server.subscribed('conversations.onChange')).toBe(true));
    const message = {
      id: 'out-1',
      conversationId: 'c1',
      direction: 'outbound',
      body: 'Yes, it is!',
      status: 'sent',
      authorId: ALICE.id,
      createdAt: now(),
      deliveredAt: null,
      readAt: null,
      failedAt: null,
      failureReason: null,
      media: [],
    };
    const event = (type: string, data: Record<string, unknown>) => ({
      seq: 1,
      type,
      module: 'conversations',
      action: type,
      recordId: 'c1',
      version: current().version,
      userId: null,
      orgId: 'org',
      timestamp: now(),
      data: { conversation: current(), ...data },
    });
    act(() => server.push('conversations.onChange', event('message:new', { message })));
    act(() => server.push('conversations.onChange', event('message:delivered', { messageIds: ['out-1'], status: 'delivered', at: now() })));
    await vi.waitFor(() => expect(within(bubble()).getByTestId('ticks').textContent).toBe('✓✓Delivered'));
    expect(screen.getAllByText('Yes, it is!')).toHaveLength(1);
    act(() => server.push('conversations.onChange', event('message:read', { messageIds: ['out-1'], status: 'read', at: now() })));
    await vi.waitFor(() => expect(within(bubble()).getByTestId('ticks').className).toContain('ticks-read'));
    // A late "delivered" changes nothing; a new inbound message while open (and the tab in front) is read at once.
    act(() => server.push('conversations.onChange', event('message:delivered', { messageIds: ['out-1'], status: 'delivered', at: now() })));
    const bumped = { ...current(), version: current().version + 5, unreadCount: 1 };
    act(() => server.push('conversations.onChange', { ...event('message:new', {}), data: { message: inbound('m2', 'Great, when can I see it?'), conversation: bumped } }));
    await screen.findByText('Great, when can I see it?');
    expect(bubble().getAttribute('data-status')).toBe('read');
    await vi.waitFor(() => expect(server.callsTo('messages.markRead')).toHaveLength(2));
  });

  it('names who is typing, and keeps a bubble the server refused with Retry', async () => {
    const { server, control } = threadServer();
    mount(server, <Thread />);
    await screen.findByText('Is it still available?');
    await vi.waitFor(() => expect(server.subscribed('presence.onRecord')).toBe(true));
    act(() => server.push('presence.onRecord', { type: 'typing', module: 'conversations', recordId: 'c1', userId: BOB.id, name: 'Bob', field: null, typing: true }));
    await vi.waitFor(() => expect(screen.getByTestId('thread-typing').textContent).toBe('Bob Brooks is typing…'));
    act(() => server.push('presence.onRecord', { type: 'typing', module: 'conversations', recordId: 'c1', userId: BOB.id, name: 'Bob', field: null, typing: false }));
    expect(screen.getByTestId('thread-typing').textContent).toBe('');

    // A send the server refuses: the bubble stays, marked, with Retry; Retry sends it again.
    control.failSends = true;
    const reply = screen.getByLabelText('Reply');
    fireEvent.change(reply, { target: { value: 'See you at 10' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    const failed = await screen.findByRole('alert');
    expect(failed.textContent).toContain('Not sent.');
    expect(screen.getByText('See you at 10').closest('li')!.getAttribute('data-status')).toBe('error');
    control.failSends = false;
    fireEvent.click(within(failed).getByRole('button', { name: 'Retry' }));
    await vi.waitFor(() => expect(screen.getByText('See you at 10').closest('li')!.getAttribute('data-status')).toBe('sent'));
    expect(screen.getAllByText('See you at 10')).toHaveLength(1);
  });
});

describe('the incoming-call banner', () => {
  const ringing = (overrides: Partial<Call> = {}): Call => ({
    id: 'call-1',
    orgId: 'org',
    version: 1,
    fromNumber: '+15557000009',
    toNumber: '+15555550100',
    status: 'ringing',
    clientId: null,
    answeredById: null,
    ringUntil: new Date(Date.now() + 30_000).toISOString(),
    answeredAt: null,
    createdAt: now(),
    ...overrides,
  });
  const callEvent = (type: string, call: Call) => ({
    seq: 1,
    type,
    module: 'calls',
    action: type,
    recordId: call.id,
    version: call.version,
    userId: null,
    orgId: 'org',
    timestamp: now(),
    data: { call },
  });

  function callServer(answer: Handler) {
    const calls: Call[] = [];
    const server = createFakeServer({
      'calls.list': () => ({ items: [...calls] }),
      'calls.answer': answer,
      'users.list': () => ({ items: [ALICE, BOB], nextCursor: null }),
      'clients.byId': () => ({ id: 'client-9', firstName: 'Priya', lastName: 'Shah' }),
    });
    return { server, calls };
  }

  it('rings with the client’s name; when someone else answers it goes and says who', async () => {
    const { server, calls } = callServer(() => undefined);
    mount(
      server,
      <CallsProvider>
        <CallBanner />
      </CallsProvider>,
    );
    await vi.waitFor(() => expect(server.subscribed('calls.onChange')).toBe(true));
    calls.unshift(ringing({ clientId: 'client-9' }));
    act(() => server.push('calls.onChange', callEvent('call.incoming', calls[0]!)));
    const banner = await screen.findByTestId('incoming-call');
    await vi.waitFor(() => expect(banner.textContent).toContain('Incoming call from Priya Shah'));
    expect(server.callsTo('clients.byId')).toEqual([{ id: 'client-9' }]);
    act(() => server.push('calls.onChange', callEvent('call.answered', ringing({ clientId: 'client-9', version: 2, status: 'answered', answeredById: BOB.id }))));
    expect(screen.queryByTestId('incoming-call')).toBeNull();
    await vi.waitFor(() => expect(screen.getByTestId('call-ended').textContent).toContain('Bob Brooks answered the call from Priya Shah'));
    // A replayed, older copy does not bring it back.
    act(() => server.push('calls.onChange', callEvent('call.incoming', ringing({ clientId: 'client-9' }))));
    expect(screen.queryByTestId('incoming-call')).toBeNull();
  });

  it('answers, and says clearly when someone was quicker', async () => {
    const { server, calls } = callServer(() => {
      throw new TRPCClientError('Someone else answered this call', {
        result: { error: { code: -32009, message: 'Someone else answered this call', data: { code: 'CONFLICT', httpStatus: 409 } } } as never,
      });
    });
    mount(
      server,
      <CallsProvider>
        <CallBanner />
      </CallsProvider>,
    );
    await vi.waitFor(() => expect(server.subscribed('calls.onChange')).toBe(true));
    calls.unshift(ringing());
    act(() => server.push('calls.onChange', callEvent('call.incoming', calls[0]!)));
    fireEvent.click(await screen.findByRole('button', { name: 'Answer the call from +15557000009' }));
    await vi.waitFor(() => expect(server.callsTo('calls.answer')).toEqual([{ id: 'call-1' }]));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('Could not answer: Someone else answered this call.');
  });
});
