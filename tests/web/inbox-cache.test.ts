import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it, vi } from 'vitest';
import { withAlert } from '../../src/client/web/alerts/AlertsPage.tsx';
import { withCall } from '../../src/client/web/calls/cache.ts';
import {
  applyConversation,
  applyConversationItem,
  isStatusForward,
  matchesFilter,
  parseConversationKey,
  pendingMessage,
  settlePending,
  unreadTotal,
  withConversation,
  withMessage,
  withPending,
  withStatus,
  type ConversationListData,
  type ConversationPage,
  type MessageListData,
} from '../../src/client/web/inbox/cache.ts';
import type { Alert, Call, CommsDataOf, Conversation, ConversationEvent, Message } from '../../src/shared/comms.ts';
import type { ResyncSignal } from '../../src/shared/events.ts';

const ME = 'user-me';
const at = (minute: number) => new Date(Date.UTC(2026, 2, 10, 12, minute)).toISOString();

const conversation = (id: string, version: number, minute: number, overrides: Partial<Conversation> = {}): Conversation => ({
  id,
  orgId: 'org',
  version,
  channel: 'sms',
  contactName: `Contact ${id}`,
  contactPhone: '+15550000000',
  orgNumber: '+15555550100',
  clientId: null,
  leadId: null,
  status: 'open',
  assigneeId: null,
  unreadCount: 0,
  lastMessageAt: at(minute),
  lastMessagePreview: `Preview ${id}`,
  createdAt: at(0),
  updatedAt: at(minute),
  ...overrides,
});

const message = (id: string, minute: number, overrides: Partial<Message> = {}): Message => ({
  id,
  conversationId: 'c1',
  direction: 'inbound',
  body: `Body ${id}`,
  status: 'delivered',
  authorId: null,
  createdAt: at(minute),
  deliveredAt: at(minute),
  readAt: null,
  failedAt: null,
  failureReason: null,
  media: [],
  ...overrides,
});

const page = (items: Conversation[], nextCursor: string | null = null): ConversationPage => ({ items, nextCursor });
const infinite = (...pages: ConversationPage[]): ConversationListData => ({ pages, pageParams: pages.map((_, index) => (index === 0 ? undefined : `cursor-${index}`)) });
const idsOf = (data: ConversationListData) => ('pages' in data ? data.pages.flatMap((each) => each.items) : data.items).map((item) => item.id);
const thread = (...pages: Message[][]): MessageListData => ({
  pages: pages.map((items, index) => ({ items, nextCursor: index < pages.length - 1 ? `older-${index}` : null })),
  pageParams: pages.map(() => undefined),
});
const threadItems = (data: MessageListData | undefined) => data!.pages.flatMap((each) => each.items);

describe('a conversation list patched from events', () => {
  const list = infinite(page([conversation('a', 3, 30), conversation('b', 2, 20), conversation('c', 1, 10)]));

  it('moves a conversation with new activity to its place at the top', () => {
    const next = withConversation(list, {}, conversation('c', 2, 40, { unreadCount: 1 }), ME);
    expect(idsOf(next)).toEqual(['c', 'a', 'b']);
    expect('pages' in next && next.pages[0]!.items[0]!.unreadCount).toBe(1);
  });

  it('ignores a version it already has, or an older one, keeping the same object', () => {
    expect(withConversation(list, {}, conversation('a', 3, 50, { unreadCount: 9 }), ME)).toBe(list);
    expect(withConversation(list, {}, conversation('a', 2, 50), ME)).toBe(list);
  });

  it('adds a new conversation where the server would list it', () => {
    expect(idsOf(withConversation(list, {}, conversation('d', 1, 25), ME))).toEqual(['a', 'd', 'b', 'c']);
    expect(idsOf(withConversation(list, {}, conversation('e', 1, 60), ME))).toEqual(['e', 'a', 'b', 'c']);
    // Older than everything: last, since nothing more is to be loaded.
    expect(idsOf(withConversation(list, {}, conversation('f', 1, 5), ME))).toEqual(['a', 'b', 'c', 'f']);
  });

  it('does not add one whose place is past the pages loaded so far', () => {
    const partial = infinite(page([conversation('a', 1, 30), conversation('b', 1, 20)], 'more'));
    expect(withConversation(partial, {}, conversation('old', 1, 5), ME)).toBe(partial);
    // It is placed into the page where it belongs, across pages.
    const two = infinite(page([conversation('a', 1, 30)], 'p2'), page([conversation('b', 1, 20), conversation('c', 1, 10)]));
    const next = withConversation(two, {}, conversation('d', 1, 15), ME);
    expect('pages' in next && next.pages.map((each) => each.items.map((item) => item.id))).toEqual([['a'], ['b', 'd', 'c']]);
  });

  it('takes a conversation out of a list whose filter it no longer matches, and into one it now matches', () => {
    const open = infinite(page([conversation('a', 1, 30), conversation('b', 1, 20)]));
    expect(idsOf(withConversation(open, { status: 'open' }, conversation('a', 2, 31, { status: 'closed' }), ME))).toEqual(['b']);
    const mine = infinite(page([conversation('a', 1, 30, { assigneeId: ME })]));
    expect(idsOf(withConversation(mine, { assigneeId: 'me' }, conversation('a', 2, 31, { assigneeId: 'bob' }), ME))).toEqual([]);
    expect(idsOf(withConversation(mine, { assigneeId: 'me' }, conversation('z', 2, 40, { assigneeId: ME }), ME))).toEqual(['z', 'a']);
    const unassigned = infinite(page([]));
    expect(withConversation(unassigned, { assigneeId: null }, conversation('q', 1, 1, { assigneeId: 'bob' }), ME)).toBe(unassigned);
    expect(idsOf(withConversation(unassigned, { assigneeId: null, channel: 'sms' }, conversation('q', 1, 1), ME))).toEqual(['q']);
  });

  it('patches a single page (useQuery) the same way', () => {
    const single = page([conversation('a', 1, 30)]);
    const next = withConversation(single, { status: 'open' }, conversation('b', 1, 40, { unreadCount: 2 }), ME);
    expect(next).toEqual(page([conversation('b', 1, 40, { unreadCount: 2 }), conversation('a', 1, 30)]));
    expect(unreadTotal(next)).toBe(2);
  });

  it('counts the unread messages of open conversations only', () => {
    expect(
      unreadTotal(
        infinite(
          page([conversation('a', 1, 3, { unreadCount: 2 }), conversation('b', 1, 2, { unreadCount: 5, status: 'closed' })]),
          page([conversation('c', 1, 1, { unreadCount: 1 })]),
        ),
      ),
    ).toBe(3);
    expect(unreadTotal(undefined)).toBe(0);
  });

  it('knows which lists a conversation belongs in', () => {
    const mine = conversation('a', 1, 1, { assigneeId: ME, channel: 'whatsapp' });
    expect(matchesFilter(mine, {}, ME)).toBe(true);
    expect(matchesFilter(mine, { assigneeId: 'me', channel: 'whatsapp', status: 'open' }, ME)).toBe(true);
    expect(matchesFilter(mine, { channel: 'sms' }, ME)).toBe(false);
    expect(matchesFilter(mine, { assigneeId: null }, ME)).toBe(false);
  });
});

describe('a thread patched from events', () => {
  it('adds a new message once, newest first', () => {
    const data = thread([message('m2', 2), message('m1', 1)]);
    const next = withMessage(data, message('m3', 3));
    expect(threadItems(next).map((item) => item.id)).toEqual(['m3', 'm2', 'm1']);
    expect(withMessage(next, message('m3', 3))).toBe(next);
  });

  it('keeps the further status when a copy of a message arrives again', () => {
    const data = thread([message('m1', 1, { direction: 'outbound', status: 'read' })]);
    expect(withMessage(data, message('m1', 1, { direction: 'outbound', status: 'sent' }))).toBe(data);
    const sent = thread([message('m1', 1, { direction: 'outbound', status: 'sent' })]);
    expect(threadItems(withMessage(sent, message('m1', 1, { direction: 'outbound', status: 'delivered' })))[0]!.status).toBe('delivered');
  });

  it('turns the optimistic bubble into the server’s message where it stands, whichever answer comes first', () => {
    const base = thread([message('m1', 1)]);
    const pending = pendingMessage('c1', 'On my way', ME, 'tmp-1');
    const optimistic = withPending(base, pending)!;
    expect(threadItems(optimistic).map((item) => item.id)).toEqual(['tmp-1', 'm1']);
    const server = message('m2', 2, { direction: 'outbound', body: 'On my way', status: 'sent', authorId: ME });

    // The stream first: the event takes the pending bubble's place; the answer then finds it there.
    const viaStream = withMessage(optimistic, server);
    expect(threadItems(viaStream).map((item) => item.id)).toEqual(['m2', 'm1']);
    expect(threadItems(settlePending(viaStream, 'tmp-1', { message: server })).map((item) => item.id)).toEqual(['m2', 'm1']);

    // The answer first: the bubble becomes the message; the event then is a duplicate.
    const viaAnswer = settlePending(optimistic, 'tmp-1', { message: server })!;
    expect(threadItems(viaAnswer)).toEqual([server, message('m1', 1)]);
    expect(withMessage(viaAnswer, server)).toBe(viaAnswer);

    // A delivery report that overtook the answer is not undone by it.
    const delivered = withStatus(withMessage(optimistic, server), ['m2'], 'delivered', at(3));
    expect(threadItems(settlePending(delivered, 'tmp-1', { message: server }))[0]!.status).toBe('delivered');
  });

  it('marks a bubble that could not be sent', () => {
    const optimistic = withPending(thread([]), pendingMessage('c1', 'Hello', ME, 'tmp-2'));
    expect(threadItems(settlePending(optimistic, 'tmp-2', { error: true }))[0]).toMatchObject({ id: 'tmp-2', pending: 'error' });
    expect(withPending(undefined, pendingMessage('c1', 'x', ME, 't'))).toBeUndefined();
  });

  it('moves delivery ticks only forward: sent → delivered → read, and never out of failed', () => {
    const data = thread([
      message('out', 1, { direction: 'outbound', status: 'sent', deliveredAt: null }),
      message('other', 0, { direction: 'outbound', status: 'sent', deliveredAt: null }),
    ]);
    const delivered = withStatus(data, ['out'], 'delivered', at(2));
    expect(threadItems(delivered).map((item) => item.status)).toEqual(['delivered', 'sent']);
    expect(threadItems(delivered)[0]!.deliveredAt).toBe(at(2));
    const read = withStatus(delivered, ['out'], 'read', at(3));
    expect(threadItems(read)[0]).toMatchObject({ status: 'read', readAt: at(3), deliveredAt: at(2) });
    // Late or repeated reports change nothing (the same object).
    expect(withStatus(read, ['out'], 'delivered', at(4))).toBe(read);
    expect(withStatus(read, ['out'], 'read', at(4))).toBe(read);
    expect(withStatus(read, ['unknown'], 'read', at(4))).toBe(read);
    // Read straight from sent implies delivered.
    expect(threadItems(withStatus(data, ['other'], 'read', at(5)))[1]).toMatchObject({ status: 'read', deliveredAt: at(5), readAt: at(5) });
    const failed = withStatus(data, ['out'], 'failed', at(6), 'Twilio 21211: bad number');
    expect(threadItems(failed)[0]).toMatchObject({ status: 'failed', failedAt: at(6), failureReason: 'Twilio 21211: bad number' });
    expect(withStatus(failed, ['out'], 'read', at(7))).toBe(failed);
    // Sent again (messages.retry): back to queued from failed, and from failed only.
    expect(threadItems(withStatus(failed, ['out'], 'queued', at(8)))[0]).toMatchObject({ status: 'queued', failedAt: null, failureReason: null });
    expect(withStatus(read, ['out'], 'queued', at(8))).toBe(read);
    expect(isStatusForward('sent', 'sent')).toBe(false);
    expect(isStatusForward('delivered', 'failed')).toBe(true);
  });
});

const listKey = (input: Record<string, unknown>, type: 'query' | 'infinite' = 'infinite') => [['conversations', 'list'], { input, type }];
const byIdKey = (id: string) => [['conversations', 'byId'], { input: { id }, type: 'query' }];
const messagesKey = (conversationId: string) => [['messages', 'list'], { input: { conversationId, limit: 30 }, type: 'infinite' }];

let seq = 100;
function event<T extends ConversationEvent['type']>(type: T, data: CommsDataOf<T>): ConversationEvent {
  return {
    seq: ++seq,
    type,
    module: 'conversations',
    action: type,
    recordId: (data as { conversation: Conversation }).conversation.id,
    version: (data as { conversation: Conversation }).conversation.version,
    userId: null,
    orgId: 'org',
    timestamp: at(0),
    data,
  } as ConversationEvent;
}

describe('the cache kept by conversation events', () => {
  function cacheWith() {
    const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity } } });
    queryClient.setQueryData(listKey({ limit: 30, status: 'open' }), infinite(page([conversation('c1', 1, 10), conversation('c2', 1, 5)])));
    queryClient.setQueryData(listKey({ status: 'open', limit: 200 }, 'query'), page([conversation('c1', 1, 10), conversation('c2', 1, 5)]));
    queryClient.setQueryData(byIdKey('c1'), conversation('c1', 1, 10));
    queryClient.setQueryData(messagesKey('c1'), thread([message('m1', 10)]));
    queryClient.setQueryData([['jobs', 'list'], { input: {}, type: 'infinite' }], { pages: [], pageParams: [] });
    return queryClient;
  }

  it('puts a new message into the thread, and its conversation into every list and byId', () => {
    const queryClient = cacheWith();
    const c1 = conversation('c1', 2, 20, { unreadCount: 1, lastMessagePreview: 'New!' });
    const result = applyConversationItem(queryClient, event('message:new', { message: message('m2', 20, { body: 'New!' }), conversation: c1 }), ME);
    expect(result).toEqual({ patched: 4, invalidated: 0, stale: false });
    expect(threadItems(queryClient.getQueryData<MessageListData>(messagesKey('c1'))).map((item) => item.id)).toEqual(['m2', 'm1']);
    expect(queryClient.getQueryData(byIdKey('c1'))).toEqual(c1);
    expect(unreadTotal(queryClient.getQueryData<ConversationListData>(listKey({ status: 'open', limit: 200 }, 'query')))).toBe(1);

    // The same event again (a replay after a reconnect) changes nothing.
    const again = applyConversationItem(queryClient, event('message:new', { message: message('m2', 20, { body: 'New!' }), conversation: c1 }), ME);
    expect(again.patched).toBe(0);
  });

  it('ignores an event whose conversation is older than one already applied, wherever it would go', () => {
    const queryClient = cacheWith();
    applyConversation(queryClient, conversation('c2', 3, 30, { status: 'closed' }), ME);
    expect(idsOf(queryClient.getQueryData<ConversationListData>(listKey({ limit: 30, status: 'open' }))!)).toEqual(['c1']);
    // An older copy (still open) must not bring it back into the open list.
    const stale = applyConversationItem(queryClient, event('conversation:updated', { conversation: conversation('c2', 2, 25) }), ME);
    expect(stale).toMatchObject({ stale: true, patched: 0 });
    expect(idsOf(queryClient.getQueryData<ConversationListData>(listKey({ limit: 30, status: 'open' }))!)).toEqual(['c1']);
  });

  it('applies delivery reports to the thread, forward only, even when the conversation did not change', () => {
    const queryClient = cacheWith();
    queryClient.setQueryData(messagesKey('c1'), thread([message('out', 11, { direction: 'outbound', status: 'sent', deliveredAt: null })]));
    const same = conversation('c1', 1, 10);
    applyConversationItem(queryClient, event('message:read', { messageIds: ['out'], status: 'read', at: at(12), conversation: same }), ME);
    applyConversationItem(queryClient, event('message:delivered', { messageIds: ['out'], status: 'delivered', at: at(13), conversation: same }), ME);
    expect(threadItems(queryClient.getQueryData<MessageListData>(messagesKey('c1')))[0]).toMatchObject({ status: 'read', readAt: at(12) });
  });

  it('refetches what a list request under way would otherwise overwrite', async () => {
    const queryClient = cacheWith();
    let answer!: (value: ConversationPage) => void;
    const key = listKey({ status: 'open', limit: 200 }, 'query');
    const fetching = queryClient.fetchQuery({ queryKey: key, queryFn: () => new Promise<ConversationPage>((resolve) => (answer = resolve)), staleTime: 0 });
    const invalidate = vi.spyOn(queryClient, 'invalidateQueries');
    applyConversation(queryClient, conversation('c9', 1, 50), ME);
    expect(invalidate).toHaveBeenCalledWith({ queryKey: key, exact: true });
    answer(page([]));
    await fetching.catch(() => undefined);
  });

  it('applies an event that arrives during a first fetch on top of its answer', async () => {
    const queryClient = new QueryClient();
    const key = listKey({ status: 'open', limit: 200 }, 'query');
    let answer!: (value: ConversationPage) => void;
    const fetching = queryClient.fetchQuery({ queryKey: key, queryFn: () => new Promise<ConversationPage>((resolve) => (answer = resolve)) });
    applyConversation(queryClient, conversation('new', 1, 50, { unreadCount: 1 }), ME);
    // The answer was read before the conversation existed.
    answer(page([conversation('c1', 1, 10)]));
    await fetching;
    await vi.waitFor(() => expect(idsOf(queryClient.getQueryData<ConversationListData>(key)!)).toEqual(['new', 'c1']));
  });

  it('refetches every conversation and message query on RESYNC, and nothing else', () => {
    const queryClient = cacheWith();
    const invalidate = vi.spyOn(queryClient, 'invalidateQueries');
    const resync: ResyncSignal = { type: 'RESYNC', reason: 'retention_exceeded', modules: ['conversations'], recordId: null, lastEventId: '500' };
    const result = applyConversationItem(queryClient, resync, ME);
    expect(result.invalidated).toBe(4);
    const keys = invalidate.mock.calls.map(([filters]) => (filters as { queryKey: unknown[] }).queryKey[0]);
    expect(keys).not.toContainEqual(['jobs', 'list']);
  });

  it('reads only its own cache keys', () => {
    expect(parseConversationKey(listKey({ status: 'closed', assigneeId: null }))).toEqual({ kind: 'list', filter: { status: 'closed', channel: undefined, assigneeId: null } });
    expect(parseConversationKey(byIdKey('x'))).toEqual({ kind: 'byId', id: 'x' });
    expect(parseConversationKey(messagesKey('x'))).toEqual({ kind: 'messages', conversationId: 'x' });
    expect(parseConversationKey([['jobs', 'list'], { input: {} }])).toBeNull();
    expect(parseConversationKey(['tandem', 'deleted'])).toBeNull();
  });
});

const call = (id: string, version: number, minute: number, overrides: Partial<Call> = {}): Call => ({
  id,
  orgId: 'org',
  version,
  fromNumber: '+15557000000',
  toNumber: '+15555550100',
  status: 'ringing',
  clientId: null,
  answeredById: null,
  ringUntil: at(minute + 1),
  answeredAt: null,
  createdAt: at(minute),
  ...overrides,
});

describe('calls and alerts from events', () => {
  it('a call list takes a call once, newer versions only, newest first, in its status filter only', () => {
    const list = { items: [call('b', 1, 20), call('a', 2, 10, { status: 'missed' })] };
    expect(withCall(list, call('c', 1, 30)).items.map((item) => item.id)).toEqual(['c', 'b', 'a']);
    expect(withCall(list, call('b', 1, 20, { status: 'answered' }))).toBe(list);
    const answered = withCall(list, call('b', 2, 20, { status: 'answered', answeredById: ME }));
    expect(answered.items[0]).toMatchObject({ id: 'b', status: 'answered', answeredById: ME });
    expect(withCall(answered, call('b', 1, 20))).toBe(answered);
    const missedOnly = { items: [call('a', 2, 10, { status: 'missed' })] };
    expect(withCall(missedOnly, call('c', 1, 30), 'missed')).toBe(missedOnly);
    expect(withCall(missedOnly, call('c', 2, 30, { status: 'missed' }), 'missed').items.map((item) => item.id)).toEqual(['c', 'a']);
    expect(withCall({ items: [call('r', 1, 5)] }, call('r', 2, 5, { status: 'answered' }), 'ringing').items).toEqual([]);
  });

  it('an alert list takes a live alert once, first', () => {
    const alert = (id: string): Alert => ({ id, kind: 'listing_price_drop', title: id, body: null, module: 'listings', recordId: 'l1', createdAt: at(1) });
    const list = { items: [alert('old')] };
    const next = withAlert(list, alert('new'))!;
    expect(next.items.map((item) => item.id)).toEqual(['new', 'old']);
    expect(withAlert(next, alert('new'))).toBe(next);
    expect(withAlert(undefined, alert('x'))).toBeUndefined();
  });
});
