import { useId, useState } from 'react';
import { CONVERSATION_STATUSES, type Conversation, type ConversationStatus } from '../../../shared/comms.ts';
import { Link } from '../router.tsx';
import { trpc } from '../trpc.ts';
import { badgeText } from '../notifications/NotificationBell.tsx';
import { unreadTotal } from './cache.ts';
import { ConversationThread } from './ConversationThread.tsx';
import { channelLabel, contactOf, formatShortTime } from './format.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';

type StatusFilter = ConversationStatus | 'all';
type OwnerFilter = 'all' | 'me' | 'unassigned';

const PAGE = 30;
/** What the nav badge counts: the open conversations (the app keeps this list current from the stream). */
export const OPEN_CONVERSATIONS_INPUT = { status: 'open' as const, limit: 200 };

/** The unread messages of open conversations: the inbox's badge. */
export function useInboxUnread(): number {
  const { data } = trpc.conversations.list.useQuery(OPEN_CONVERSATIONS_INPUT, { staleTime: 60_000 });
  return unreadTotal(data);
}

/**
 * The inbox: the org's conversations, latest activity first (left), and the open one's
 * thread (right). Both are kept current by the app's conversation stream.
 */
export function InboxPage({ conversationId }: { conversationId?: string | undefined }) {
  const [status, setStatus] = useState<StatusFilter>('open');
  const [owner, setOwner] = useState<OwnerFilter>('all');
  const statusId = useId();
  const ownerId = useId();
  const input = {
    limit: PAGE,
    ...(status === 'all' ? {} : { status }),
    ...(owner === 'all' ? {} : { assigneeId: owner === 'me' ? ('me' as const) : null }),
  };
  const query = trpc.conversations.list.useInfiniteQuery(input, { getNextPageParam: (last) => last.nextCursor ?? undefined });
  const items = query.data?.pages.flatMap((page) => page.items) ?? [];

  return (
    <section className="inbox" aria-labelledby="inbox-heading">
      <div className="page-header">
        <h1 id="inbox-heading">Inbox</h1>
        <Link href="/calls" className="button small ghost">
          Calls
        </Link>
      </div>
      <div className="inbox-panes">
        <div className="inbox-list">
          <search className="filters" aria-label="Filter conversations">
            <label htmlFor={statusId} className="visually-hidden">
              Status
            </label>
            <select id={statusId} className="input" value={status} onChange={(event) => setStatus(event.target.value as StatusFilter)}>
              {CONVERSATION_STATUSES.map((value) => (
                <option key={value} value={value}>
                  {value === 'open' ? 'Open' : 'Closed'}
                </option>
              ))}
              <option value="all">Open and closed</option>
            </select>
            <label htmlFor={ownerId} className="visually-hidden">
              Assigned to
            </label>
            <select id={ownerId} className="input" value={owner} onChange={(event) => setOwner(event.target.value as OwnerFilter)}>
              <option value="all">Everyone’s</option>
              <option value="me">Mine</option>
              <option value="unassigned">Unassigned</option>
            </select>
          </search>
          <ErrorNote error={query.error} prefix="Could not load the conversations" />
          <ul className="conversation-list" aria-label="Conversations" data-testid="conversation-list">
            {items.map((conversation) => (
              <li key={conversation.id}>
                <ConversationRow conversation={conversation} selected={conversation.id === conversationId} />
              </li>
            ))}
          </ul>
          {query.isPending ? <p className="muted">Loading…</p> : null}
          {query.isSuccess && items.length === 0 ? (
            <p className="muted empty-inbox">No conversations {status === 'open' && owner === 'all' ? 'open' : 'match these filters'}.</p>
          ) : null}
          {query.hasNextPage ? (
            <div className="load-more">
              <button type="button" className="button" onClick={() => void query.fetchNextPage()} disabled={query.isFetchingNextPage}>
                {query.isFetchingNextPage ? 'Loading…' : 'Load more'}
              </button>
            </div>
          ) : null}
        </div>
        <div className="inbox-thread">
          {conversationId ? <ConversationThread key={conversationId} id={conversationId} /> : <p className="muted thread-placeholder">Choose a conversation to read and reply.</p>}
        </div>
      </div>
    </section>
  );
}

function ConversationRow({ conversation, selected }: { conversation: Conversation; selected: boolean }) {
  const { unreadCount } = conversation;
  const contact = contactOf(conversation);
  return (
    <Link
      href={`/inbox/${encodeURIComponent(conversation.id)}`}
      className={`conversation-row${unreadCount > 0 ? ' unread' : ''}${conversation.status === 'closed' ? ' closed' : ''}`}
      aria-current={selected ? 'page' : undefined}
      data-testid="conversation-row"
      data-id={conversation.id}
    >
      <span className="conversation-top">
        <span className="conversation-contact">{contact}</span>
        <time className="conversation-time" dateTime={conversation.lastMessageAt ?? undefined}>
          {formatShortTime(conversation.lastMessageAt)}
        </time>
      </span>
      <span className="conversation-bottom">
        <span className="conversation-preview">
          <span className={`channel channel-${conversation.channel}`}>{channelLabel[conversation.channel]}</span>{' '}
          {conversation.contactName && conversation.contactPhone ? <span className="muted">{conversation.contactPhone} · </span> : null}
          {conversation.lastMessagePreview ?? ''}
        </span>
        <span className="unread-count" hidden={unreadCount === 0} data-testid="unread-count">
          <span aria-hidden="true">{badgeText(unreadCount)}</span>
          <span className="visually-hidden">{unreadCount} unread</span>
        </span>
      </span>
    </Link>
  );
}
