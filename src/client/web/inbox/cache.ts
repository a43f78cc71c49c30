import type { InfiniteData, Query, QueryClient, QueryKey } from '@tanstack/react-query';
import {
  CHANNELS,
  CONVERSATION_STATUSES,
  MESSAGE_STATUSES,
  type Channel,
  type Conversation,
  type ConversationEvent,
  type ConversationStatus,
  type Message,
  type MessageStatus,
} from '../../../shared/comms.ts';
import type { UploadedFile } from '../../../shared/uploads.ts';
import { isResync, type StreamItem } from '../../../shared/events.ts';
import { inputChoice, inputField, isQueryOf } from '../realtime/query-keys.ts';
import { trpc } from '../trpc.ts';

/**
 * Keeping the cached conversations and messages current from `conversations.onChange`.
 * Conversation events carry the whole conversation, so a list can be patched exactly: the
 * conversation is put where it belongs (or taken out when it no longer matches the list's
 * filter) unless the cache already has that version or a newer one. Messages are deduped
 * by id and their delivery status only moves forward. Pure functions over cached data,
 * plus `applyConversationItem`, which walks a QueryClient's cache with them.
 *
 * Cached queries are recognised with tRPC's `getQueryKey` (see realtime/query-keys.ts).
 */

export interface ConversationPage {
  items: Conversation[];
  nextCursor: string | null;
}
/** A list as cached: one page (`useQuery`) or pages (`useInfiniteQuery`). */
export type ConversationListData = ConversationPage | InfiniteData<ConversationPage, unknown>;

export interface MessagePage {
  items: CachedMessage[];
  nextCursor: string | null;
}
export type MessageListData = InfiniteData<MessagePage, unknown>;

/** A message as cached: the server's, or one being sent (`pending`, with a temporary id). */
export type CachedMessage = Message & { pending?: 'sending' | 'error' /** The files a pending message goes with (sent again on Retry). */; files?: UploadedFile[] };

export interface ConversationFilter {
  status?: ConversationStatus | undefined;
  channel?: Channel | undefined;
  /** A user id, `me`, `null` (unassigned) or undefined (anyone). */
  assigneeId?: string | null | undefined;
}

export type ConversationKey = { kind: 'list'; filter: ConversationFilter } | { kind: 'byId'; id: string } | { kind: 'messages'; conversationId: string };

/** Which of our conversation queries a cache key is, or null for anything else. */
export function parseConversationKey(key: QueryKey): ConversationKey | null {
  if (isQueryOf(key, trpc.conversations.list)) {
    const assigneeId = inputField(key, 'assigneeId');
    return {
      kind: 'list',
      filter: {
        status: inputChoice(key, 'status', CONVERSATION_STATUSES),
        channel: inputChoice(key, 'channel', CHANNELS),
        assigneeId: typeof assigneeId === 'string' || assigneeId === null ? assigneeId : undefined,
      },
    };
  }
  const id = inputField(key, 'id');
  if (isQueryOf(key, trpc.conversations.byId) && typeof id === 'string') return { kind: 'byId', id };
  const conversationId = inputField(key, 'conversationId');
  if (isQueryOf(key, trpc.messages.list) && typeof conversationId === 'string') return { kind: 'messages', conversationId };
  return null;
}

/** Whether a conversation belongs in a list with this filter (`me` is `myId`). */
export function matchesFilter(conversation: Conversation, filter: ConversationFilter, myId: string): boolean {
  if (filter.status && conversation.status !== filter.status) return false;
  if (filter.channel && conversation.channel !== filter.channel) return false;
  if (filter.assigneeId !== undefined) {
    const wanted = filter.assigneeId === 'me' ? myId : filter.assigneeId;
    if (conversation.assigneeId !== wanted) return false;
  }
  return true;
}

/** The server's order of `conversations.list`: latest message first, then id. */
export function compareConversations(a: Conversation, b: Conversation): number {
  const at = (conversation: Conversation) => conversation.lastMessageAt ?? conversation.createdAt;
  if (at(a) !== at(b)) return at(a) > at(b) ? -1 : 1;
  return a.id === b.id ? 0 : a.id > b.id ? -1 : 1;
}

const pagesOf = (data: ConversationListData): ConversationPage[] => ('pages' in data ? data.pages : [data]);
const withPages = (data: ConversationListData, pages: ConversationPage[]): ConversationListData => ('pages' in data ? { ...data, pages } : pages[0]!);

export function findConversation(data: ConversationListData | undefined, id: string): Conversation | undefined {
  if (!data) return undefined;
  for (const page of pagesOf(data)) {
    const found = page.items.find((item) => item.id === id);
    if (found) return found;
  }
  return undefined;
}

/**
 * A list with this conversation in its place: moved when its activity changed, removed
 * when it no longer matches the filter. Unchanged (the same object) when the list already
 * has this version or a newer one, or when its place is past the pages loaded so far.
 */
export function withConversation(data: ConversationListData, filter: ConversationFilter, conversation: Conversation, myId: string): ConversationListData {
  const known = findConversation(data, conversation.id);
  if (known && known.version >= conversation.version) return data;
  const belongs = matchesFilter(conversation, filter, myId);
  if (!known && !belongs) return data;
  const pages = pagesOf(data).map((page) => (known ? { ...page, items: page.items.filter((item) => item.id !== conversation.id) } : page));
  if (belongs) {
    let placed = false;
    for (const [index, page] of pages.entries()) {
      const at = page.items.findIndex((item) => compareConversations(conversation, item) < 0);
      if (at < 0) continue;
      pages[index] = { ...page, items: [...page.items.slice(0, at), conversation, ...page.items.slice(at)] };
      placed = true;
      break;
    }
    const last = pages.at(-1);
    // After everything loaded: it goes at the end only when there is nothing more to load.
    if (!placed && last && last.nextCursor === null) {
      pages[pages.length - 1] = { ...last, items: [...last.items, conversation] };
      placed = true;
    }
    if (!placed && !known) return data;
  }
  return withPages(data, pages);
}

/** The sum of `unreadCount` of the open conversations in a list. */
export function unreadTotal(data: ConversationListData | undefined): number {
  if (!data) return 0;
  let total = 0;
  for (const page of pagesOf(data)) for (const item of page.items) if (item.status === 'open') total += item.unreadCount;
  return total;
}

const rank = (status: MessageStatus) => MESSAGE_STATUSES.indexOf(status);

/** Whether a message may go from `current` to `next`: only forward, and never out of `failed` (the server's rule). */
export function isStatusForward(current: MessageStatus, next: MessageStatus): boolean {
  return current !== 'failed' && rank(next) > rank(current);
}

/** Newest first, as `messages.list` answers. */
function compareMessages(a: Message, b: Message): number {
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt ? -1 : 1;
  return a.id === b.id ? 0 : a.id > b.id ? -1 : 1;
}

function mapMessages(data: MessageListData, update: (message: CachedMessage) => CachedMessage | null): MessageListData {
  let changed = false;
  const pages = data.pages.map((page) => {
    const items: CachedMessage[] = [];
    for (const message of page.items) {
      const next = update(message);
      if (next !== message) changed = true;
      if (next) items.push(next);
    }
    return changed ? { ...page, items } : page;
  });
  return changed ? { ...data, pages } : data;
}

/** The more advanced of two copies of one message (a late copy never takes a tick back). */
function merged(known: CachedMessage, incoming: Message): CachedMessage {
  if (known.pending) return incoming;
  return isStatusForward(known.status, incoming.status) ? { ...known, ...incoming } : known;
}

/**
 * A new message in a thread: added once (a second copy of an id keeps the further status),
 * in its place newest first. An outbound message replaces the first pending one with the
 * same body, so the optimistic bubble becomes the server's where it stands.
 */
export function withMessage(data: MessageListData, message: Message): MessageListData {
  const all = data.pages.flatMap((page) => page.items);
  if (all.some((item) => item.id === message.id)) return mapMessages(data, (item) => (item.id === message.id ? merged(item, message) : item));
  const pending =
    message.direction === 'outbound' ? all.find((item) => item.pending && item.body === message.body && (item.files?.length ?? 0) === message.media.length) : undefined;
  if (pending) return mapMessages(data, (item) => (item === pending ? message : item));
  const [first, ...rest] = data.pages;
  if (!first) return data;
  const at = first.items.findIndex((item) => !item.pending && compareMessages(message, item) < 0);
  const items = at < 0 ? [...first.items, message] : [...first.items.slice(0, at), message, ...first.items.slice(at)];
  return { ...data, pages: [{ ...first, items }, ...rest] };
}

/** Delivery reports: each named message moves to `status` if that is forward for it. */
export function withStatus(data: MessageListData, messageIds: readonly string[], status: MessageStatus, at: string, reason?: string): MessageListData {
  const ids = new Set(messageIds);
  return mapMessages(data, (item) => {
    if (!ids.has(item.id)) return item;
    // Sent again (messages.retry): the one way back, from failed only.
    if (status === 'queued') return item.status === 'failed' ? { ...item, status, failedAt: null, failureReason: null } : item;
    if (!isStatusForward(item.status, status)) return item;
    return {
      ...item,
      status,
      ...(status === 'delivered' || (status === 'read' && !item.deliveredAt) ? { deliveredAt: at } : {}),
      ...(status === 'read' ? { readAt: at } : {}),
      ...(status === 'failed' ? { failedAt: at, failureReason: reason ?? null } : {}),
    };
  });
}

/** An optimistic bubble for a reply being sent. */
export function pendingMessage(conversationId: string, body: string, authorId: string, tempId: string, files: UploadedFile[] = []): CachedMessage {
  return {
    id: tempId,
    conversationId,
    direction: 'outbound',
    body,
    status: 'sent',
    authorId,
    createdAt: new Date().toISOString(),
    deliveredAt: null,
    readAt: null,
    failedAt: null,
    failureReason: null,
    media: [],
    pending: 'sending',
    ...(files.length ? { files } : {}),
  };
}

/** Puts the pending bubble first (newest). */
export function withPending(data: MessageListData | undefined, message: CachedMessage): MessageListData | undefined {
  const [first, ...rest] = data?.pages ?? [];
  if (!data || !first) return data;
  return { ...data, pages: [{ ...first, items: [message, ...first.items] }, ...rest] };
}

/** The send was answered: the pending bubble becomes the server's message (or goes, when the stream brought it first). */
export function settlePending(data: MessageListData | undefined, tempId: string, result: { message: Message } | { error: true }): MessageListData | undefined {
  if (!data) return data;
  if ('error' in result) return mapMessages(data, (item) => (item.id === tempId ? { ...item, pending: 'error' } : item));
  const has = data.pages.some((page) => page.items.some((item) => item.id === result.message.id));
  if (has) return mapMessages(data, (item) => (item.id === tempId ? null : item.id === result.message.id ? merged(item, result.message) : item));
  return mapMessages(data, (item) => (item.id === tempId ? result.message : item));
}

/** What `applyConversationItem` did, for tests. */
export interface ConversationItemResult {
  patched: number;
  invalidated: number;
  /** The event's conversation was older than one already seen. */
  stale: boolean;
}

/** The newest version of each conversation this cache has seen, so an old copy never replaces a newer one. */
const seenVersions = new WeakMap<QueryClient, Map<string, number>>();

function versionsOf(queryClient: QueryClient): Map<string, number> {
  let versions = seenVersions.get(queryClient);
  if (!versions) seenVersions.set(queryClient, (versions = new Map()));
  return versions;
}

/**
 * Puts a conversation (from an event or a mutation's answer) into every cached list and
 * `byId` of it, unless a newer version was seen already. Returns how many queries changed.
 */
export function applyConversation(queryClient: QueryClient, conversation: Conversation, myId: string): number {
  const versions = versionsOf(queryClient);
  if ((versions.get(conversation.id) ?? 0) > conversation.version) return 0;
  versions.set(conversation.id, conversation.version);
  let patched = 0;
  for (const query of queryClient.getQueryCache().getAll()) {
    const key = parseConversationKey(query.queryKey);
    if (!key || key.kind === 'messages') continue;
    const data = query.state.data;
    if (!data) {
      whenAnswered(query, () => applyConversation(queryClient, conversation, myId));
      continue;
    }
    let next: unknown = data;
    if (key.kind === 'byId') {
      if (key.id === conversation.id && (data as Conversation).version < conversation.version) next = conversation;
    } else next = withConversation(data as ConversationListData, key.filter, conversation, myId);
    if (next === data) continue;
    queryClient.setQueryData(query.queryKey, next);
    patched += 1;
    refetchIfFetching(queryClient, query.queryKey, query.state.fetchStatus);
  }
  return patched;
}

/**
 * A request under way may have been answered before this change: its answer would take the
 * change away when it lands, so ask again.
 */
function refetchIfFetching(queryClient: QueryClient, queryKey: QueryKey, fetchStatus: string) {
  if (fetchStatus === 'fetching') void queryClient.invalidateQueries({ queryKey, exact: true });
}

/**
 * A query's first answer is on its way and may predate the event (asking again would only
 * join that request): apply the event on top of the answer once it has landed. The answer's
 * own reaction was registered first, so the data is in the cache by then.
 */
export function whenAnswered(query: Query<unknown, Error, unknown, QueryKey>, again: () => void) {
  if (query.state.fetchStatus !== 'fetching') return;
  void query.promise?.then(
    () => {
      if (query.state.data !== undefined) again();
    },
    () => undefined,
  );
}

function patchMessages(queryClient: QueryClient, conversationId: string, update: (data: MessageListData) => MessageListData): number {
  let patched = 0;
  for (const query of queryClient.getQueryCache().getAll()) {
    const key = parseConversationKey(query.queryKey);
    if (key?.kind !== 'messages' || key.conversationId !== conversationId) continue;
    const data = query.state.data as MessageListData | undefined;
    if (!data) {
      whenAnswered(query, () => patchMessages(queryClient, conversationId, update));
      continue;
    }
    const next = update(data);
    if (next === data) continue;
    queryClient.setQueryData(query.queryKey, next);
    patched += 1;
    refetchIfFetching(queryClient, query.queryKey, query.state.fetchStatus);
  }
  return patched;
}

/**
 * Applies one item of `conversations.onChange` to the cache: the conversation to every list
 * and `byId`, the message or the delivery report to the conversation's open threads. A
 * RESYNC refetches every conversation and message query.
 */
export function applyConversationItem(queryClient: QueryClient, item: StreamItem<ConversationEvent>, myId: string): ConversationItemResult {
  if (isResync(item)) {
    let invalidated = 0;
    for (const query of queryClient.getQueryCache().getAll()) {
      if (!parseConversationKey(query.queryKey)) continue;
      invalidated += 1;
      void queryClient.invalidateQueries({ queryKey: query.queryKey, exact: true });
    }
    return { patched: 0, invalidated, stale: false };
  }
  const { conversation } = item.data;
  const stale = (versionsOf(queryClient).get(conversation.id) ?? 0) > conversation.version;
  let patched = applyConversation(queryClient, conversation, myId);
  if (item.type === 'message:new') {
    const { message } = item.data;
    patched += patchMessages(queryClient, conversation.id, (data) => withMessage(data, message));
  } else if (
    item.type === 'message:queued' ||
    item.type === 'message:sent' ||
    item.type === 'message:delivered' ||
    item.type === 'message:read' ||
    item.type === 'message:failed'
  ) {
    const { messageIds, status, at, reason } = item.data;
    patched += patchMessages(queryClient, conversation.id, (data) => withStatus(data, messageIds, status, at, reason));
  }
  return { patched, invalidated: 0, stale };
}
