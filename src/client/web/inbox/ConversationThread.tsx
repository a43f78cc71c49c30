import { useQueryClient } from '@tanstack/react-query';
import { getQueryKey } from '@trpc/react-query';
import { useEffect, useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import type { Conversation } from '../../../shared/comms.ts';
import { MAX_ATTACHMENTS, type UploadedFile } from '../../../shared/uploads.ts';
import { errorCode, messageOf } from '../modules/api.ts';
import { formatDateTime } from '../modules/format.ts';
import { useNamesOf, usePeople } from '../people/people.ts';
import { Avatar } from '../presence/Avatars.tsx';
import { useRecordActivity, useTypingReporter } from '../presence/PresenceProvider.tsx';
import { Link } from '../router.tsx';
import { useSession } from '../session/SessionContext.tsx';
import { trpc } from '../trpc.ts';
import {
  applyConversation,
  findConversation,
  pendingMessage,
  settlePending,
  withPending,
  withStatus,
  type CachedMessage,
  type ConversationListData,
  type MessageListData,
} from './cache.ts';
import { Attachments } from './Attachments.tsx';
import { channelLabel, contactOf, statusLabel } from './format.ts';
import { ACCEPT, discardUpload, uploadFile } from './uploads.ts';
import { usePageVisible } from './usePageVisible.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';

const PAGE = 30;
/** Within this many pixels of the bottom, a new message scrolls the thread down with it. */
const STICK_TO_BOTTOM_PX = 80;
let pendingIds = 0;

/**
 * One conversation: its header (contact, record link, assignee, close), the messages
 * (oldest at the top, newest page first, older on demand), who else is here and who is
 * typing, and the composer. Opening it, and new inbound messages while it is open and
 * the tab is in front, mark it read.
 */
export function ConversationThread({ id }: { id: string }) {
  const { user } = useSession();
  const queryClient = useQueryClient();
  const utils = trpc.useUtils();
  const conversationQuery = trpc.conversations.byId.useQuery(
    { id },
    {
      // Shown at once from any cached list while the conversation itself loads.
      placeholderData: () => {
        for (const query of queryClient.getQueryCache().findAll({ queryKey: getQueryKey(trpc.conversations.list) })) {
          const found = findConversation(query.state.data as ConversationListData | undefined, id);
          if (found) return found;
        }
        return undefined;
      },
    },
  );
  const conversation = conversationQuery.data;
  const messagesInput = { conversationId: id, limit: PAGE };
  const messages = trpc.messages.list.useInfiniteQuery(messagesInput, { getNextPageParam: (last) => last.nextCursor ?? undefined });
  const activity = useRecordActivity('conversations', id, user.id);
  const typers = useNamesOf([...activity.typing.values()].flat());

  // Read while in front: on opening, and again as inbound messages arrive (each raises the version).
  const markRead = trpc.messages.markRead.useMutation({ onSuccess: (result) => void applyConversation(queryClient, result.conversation, user.id) });
  const { mutate: markReadMutate } = markRead;
  const visible = usePageVisible();
  const markedVersion = useRef(0);
  useEffect(() => {
    if (!conversation || conversationQuery.isPlaceholderData || conversation.unreadCount === 0 || !visible) return;
    if (markedVersion.current >= conversation.version) return;
    markedVersion.current = conversation.version;
    markReadMutate({ conversationId: id });
  }, [conversation, conversationQuery.isPlaceholderData, visible, id, markReadMutate]);

  const send = trpc.messages.send.useMutation();
  const [retryError, setRetryError] = useState<string | null>(null);
  // A message the carrier failed, sent again: queued until the carrier takes it (the stream moves its ticks).
  const retry = trpc.messages.retry.useMutation({
    onSuccess: (message) => setMessages((data) => data && withStatus(data, [message.id], 'queued', message.createdAt)),
    onError: (cause) => setRetryError(messageOf(cause)),
  });
  const setMessages = (update: (data: MessageListData | undefined) => MessageListData | undefined) =>
    utils.messages.list.setInfiniteData(messagesInput, (data) => update(data as MessageListData | undefined) as typeof data);
  const stickToBottom = useRef(false);
  const sendBody = (body: string, files: UploadedFile[] = []) => {
    const tempId = `pending-${Date.now()}-${++pendingIds}`;
    stickToBottom.current = true;
    setMessages((data) => withPending(data, pendingMessage(id, body, user.id, tempId, files)));
    send.mutate(
      { conversationId: id, body, ...(files.length ? { attachments: files.map((file) => file.id) } : {}) },
      {
        onSuccess: (message) => setMessages((data) => settlePending(data, tempId, { message })),
        onError: () => setMessages((data) => settlePending(data, tempId, { error: true })),
      },
    );
  };
  const discard = (tempId: string) =>
    setMessages((data) => data && { ...data, pages: data.pages.map((page) => ({ ...page, items: page.items.filter((item) => item.id !== tempId) })) });

  if (conversationQuery.isError && !conversation) {
    return (
      <p className="error" role="alert">
        {errorCode(conversationQuery.error) === 'NOT_FOUND'
          ? 'This conversation does not exist, or belongs to another organization.'
          : `Could not load the conversation: ${messageOf(conversationQuery.error)}`}
      </p>
    );
  }
  const ordered = [...(messages.data?.pages.flatMap((page) => page.items as CachedMessage[]) ?? [])].reverse();
  return (
    <article className="thread" aria-label={conversation ? `Conversation with ${contactOf(conversation)}` : 'Conversation'} data-testid="thread">
      {conversation ? (
        <ThreadHeader conversation={conversation}>
          <ul className="viewers thread-viewers" aria-label="Also here" data-testid="thread-viewers">
            {activity.viewers.map((viewer) => (
              <li key={viewer.userId}>
                <Avatar person={viewer} />
              </li>
            ))}
          </ul>
        </ThreadHeader>
      ) : (
        <div className="thread-header muted">Loading…</div>
      )}
      <MessageList
        messages={ordered}
        myId={user.id}
        hasOlder={messages.hasNextPage}
        loadingOlder={messages.isFetchingNextPage}
        onLoadOlder={() => void messages.fetchNextPage()}
        stickToBottom={stickToBottom}
        onRetry={(message) => {
          setRetryError(null);
          if (message.pending === 'error') {
            discard(message.id);
            sendBody(message.body, message.files);
          } else retry.mutate({ id: message.id });
        }}
        onDiscard={(message) => discard(message.id)}
        status={messages.status}
      />
      <ErrorNote error={retryError} />
      <p className="typing thread-typing" aria-live="polite" data-testid="thread-typing">
        {typers.length ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : ''}
      </p>
      <Composer conversationId={id} disabled={!messages.data} onSend={sendBody} closed={conversation?.status === 'closed'} />
    </article>
  );
}

function ThreadHeader({ conversation, children }: { conversation: Conversation; children: ReactNode }) {
  const { user } = useSession();
  const queryClient = useQueryClient();
  const { people } = usePeople();
  const assigneeId = useId();
  const onSuccess = (result: Conversation) => void applyConversation(queryClient, result, user.id);
  const assign = trpc.conversations.assign.useMutation({ onSuccess });
  const close = trpc.conversations.close.useMutation({ onSuccess });
  const error = assign.error ?? close.error;
  const record = conversation.clientId
    ? { href: `/clients/${encodeURIComponent(conversation.clientId)}`, label: 'Open client' }
    : conversation.leadId
      ? { href: `/leads/${encodeURIComponent(conversation.leadId)}`, label: 'Open lead' }
      : null;
  return (
    <header className="thread-header">
      <div className="thread-title">
        <h2 data-testid="thread-contact">{contactOf(conversation)}</h2>
        <p className="muted small">
          <span className={`channel channel-${conversation.channel}`}>{channelLabel[conversation.channel]}</span>
          {conversation.contactPhone && conversation.contactName ? ` · ${conversation.contactPhone}` : ''}
          {' · '}
          <span className={`pill pill-${conversation.status === 'open' ? 'active' : 'closed'}`}>{conversation.status === 'open' ? 'Open' : 'Closed'}</span>
          {record ? (
            <>
              {' · '}
              <Link href={record.href}>{record.label}</Link>
            </>
          ) : null}
        </p>
      </div>
      <div className="thread-actions">
        {children}
        <label htmlFor={assigneeId}>Assigned to</label>
        <select
          id={assigneeId}
          className="input"
          value={conversation.assigneeId ?? ''}
          disabled={assign.isPending}
          onChange={(event) => assign.mutate({ id: conversation.id, assigneeId: event.target.value || null })}
        >
          <option value="">Nobody</option>
          {conversation.assigneeId && !people.some((person) => person.id === conversation.assigneeId) ? <option value={conversation.assigneeId}>…</option> : null}
          {people.map((person) => (
            <option key={person.id} value={person.id}>
              {person.id === user.id ? `${person.name} (you)` : person.name}
            </option>
          ))}
        </select>
        <button type="button" className="button small" disabled={conversation.status === 'closed' || close.isPending} onClick={() => close.mutate({ id: conversation.id })}>
          {conversation.status === 'closed' ? 'Closed' : 'Close'}
        </button>
      </div>
      {error ? (
        <p className="error small" role="alert">
          {messageOf(error)}
        </p>
      ) : null}
    </header>
  );
}

interface MessageListProps {
  messages: CachedMessage[];
  myId: string;
  hasOlder: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  stickToBottom: { current: boolean };
  onRetry: (message: CachedMessage) => void;
  onDiscard: (message: CachedMessage) => void;
  status: 'pending' | 'error' | 'success';
}

/**
 * The messages, oldest at the top. The view stays where the reader is: at the bottom it
 * follows new messages; loading older ones keeps the messages in view where they were.
 */
function MessageList({ messages, myId, hasOlder, loadingOlder, onLoadOlder, stickToBottom, onRetry, onDiscard, status }: MessageListProps) {
  const box = useRef<HTMLOListElement>(null);
  const before = useRef<{ height: number; top: number; oldest: string | undefined; newest: string | undefined } | null>(null);
  const { byId } = usePeople();
  const oldest = messages[0]?.id;
  const newest = messages.at(-1)?.id;

  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the thread's messages change (their count and ends), read through refs
  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return;
    const last = before.current;
    if (!last?.newest) element.scrollTop = element.scrollHeight;
    else if (last.oldest !== oldest && last.newest === newest) element.scrollTop = element.scrollHeight - last.height + last.top;
    else if (last.newest !== newest && (stickToBottom.current || last.height - last.top - element.clientHeight < STICK_TO_BOTTOM_PX)) element.scrollTop = element.scrollHeight;
    stickToBottom.current = false;
    before.current = { height: element.scrollHeight, top: element.scrollTop, oldest, newest };
  }, [oldest, newest, messages.length, stickToBottom]);

  const remember = () => {
    const element = box.current;
    if (element && before.current) before.current = { ...before.current, height: element.scrollHeight, top: element.scrollTop };
  };

  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard to be scrolled without a mouse (WCAG 2.1.1; axe's scrollable-region-focusable); Safari does not make scrollers focusable by itself.
    <ol className="messages" ref={box} onScroll={remember} aria-label="Messages" data-testid="messages" tabIndex={0}>
      {hasOlder ? (
        <li className="load-older">
          <button type="button" className="button small ghost" onClick={onLoadOlder} disabled={loadingOlder}>
            {loadingOlder ? 'Loading…' : 'Load older messages'}
          </button>
        </li>
      ) : null}
      {status === 'pending' ? <li className="muted">Loading…</li> : null}
      {status === 'success' && messages.length === 0 ? <li className="muted">No messages yet.</li> : null}
      {messages.map((message) => {
        const author = message.direction === 'outbound' && message.authorId && message.authorId !== myId ? byId.get(message.authorId)?.name : undefined;
        return (
          <li
            key={message.id}
            className={`bubble ${message.direction}${message.pending ? ` pending-${message.pending}` : ''}`}
            data-testid="message"
            data-id={message.id}
            data-status={message.pending ?? message.status}
          >
            {author ? <span className="bubble-author">{author}</span> : null}
            {message.body ? <p className="bubble-body">{message.body}</p> : null}
            <Attachments media={message.media ?? []} />
            {message.pending && message.files?.length ? (
              <ul className="attachments" aria-label="Attachments">
                {message.files.map((file) => (
                  <li key={file.id} className="file-chip">
                    📎 {file.name}
                  </li>
                ))}
              </ul>
            ) : null}
            <span className="bubble-meta">
              <time dateTime={message.createdAt} title={formatDateTime(message.createdAt)}>
                {new Date(message.createdAt).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' })}
              </time>
              {message.direction === 'outbound' ? <Ticks message={message} onRetry={() => onRetry(message)} onDiscard={() => onDiscard(message)} /> : null}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

/** Sent ✓, delivered ✓✓, read ✓✓ (blue); sending, not sent (with Retry) and failed in words. */
export function Ticks({ message, onRetry, onDiscard }: { message: CachedMessage; onRetry?: () => void; onDiscard?: () => void }) {
  if (message.pending === 'sending') {
    return (
      <span className="ticks ticks-sending" data-testid="ticks">
        Sending…
      </span>
    );
  }
  if (message.pending === 'error') {
    return (
      <span className="ticks ticks-failed" data-testid="ticks" role="alert">
        Not sent.{' '}
        <button type="button" className="link-button" onClick={onRetry}>
          Retry
        </button>{' '}
        <button type="button" className="link-button" onClick={onDiscard}>
          Discard
        </button>
      </span>
    );
  }
  const label = statusLabel[message.status];
  if (message.status === 'failed') {
    return (
      <span className="ticks ticks-failed" data-testid="ticks" title={message.failedAt ? `${label} (${formatDateTime(message.failedAt)})` : label}>
        <span aria-hidden="true">⚠</span> {label}
        {message.failureReason ? <span className="failure-reason">: {message.failureReason}</span> : null}{' '}
        {onRetry ? (
          <button type="button" className="link-button" onClick={onRetry}>
            Retry
          </button>
        ) : null}
      </span>
    );
  }
  return (
    <span className={`ticks ticks-${message.status}`} data-testid="ticks" title={label}>
      <span aria-hidden="true">{message.status === 'queued' ? '…' : message.status === 'sent' ? '✓' : '✓✓'}</span>
      <span className="visually-hidden">{label}</span>
    </span>
  );
}

function Composer({
  conversationId,
  disabled,
  closed,
  onSend,
}: {
  conversationId: string;
  disabled: boolean;
  closed: boolean;
  onSend: (body: string, files: UploadedFile[]) => void;
}) {
  const { token } = useSession();
  const [body, setBody] = useState('');
  const [files, setFiles] = useState<UploadedFile[]>([]);
  const [uploading, setUploading] = useState(0);
  const [fileError, setFileError] = useState<string | null>(null);
  const reporter = useTypingReporter('conversations', conversationId);
  const inputId = useId();
  const hintId = useId();
  const fileInputId = useId();
  const ready = !disabled && uploading === 0 && (body.trim() !== '' || files.length > 0);
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (!ready) return;
    reporter.done('');
    onSend(body.trim(), files);
    setBody('');
    setFiles([]);
  };
  const pick = async (picked: FileList | null) => {
    setFileError(null);
    const chosen = [...(picked ?? [])];
    if (files.length + chosen.length > MAX_ATTACHMENTS) return setFileError(`At most ${MAX_ATTACHMENTS} files per message`);
    setUploading((count) => count + chosen.length);
    // One at a time: the server reads at most two uploads of a user at once, and the chips keep the picked order.
    for (const file of chosen) {
      try {
        const stored = await uploadFile(token, file);
        setFiles((current) => [...current, stored]);
      } catch (cause) {
        setFileError((cause as Error).message);
      } finally {
        setUploading((count) => count - 1);
      }
    }
  };
  const remove = (file: UploadedFile) => {
    setFiles((current) => current.filter((item) => item.id !== file.id));
    void discardUpload(token, file.id);
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is neither.
    if (event.key !== 'Enter' || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    submit();
  };
  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor={inputId} className="visually-hidden">
        Reply
      </label>
      <textarea
        id={inputId}
        className="input"
        rows={2}
        maxLength={1600}
        placeholder={closed ? 'Reply to reopen this conversation' : 'Write a reply'}
        aria-describedby={hintId}
        value={body}
        onChange={(event) => {
          setBody(event.target.value);
          if (event.target.value.trim()) reporter.typing('');
        }}
        onBlur={() => reporter.done('')}
        onKeyDown={onKeyDown}
      />
      <span id={hintId} className="visually-hidden">
        Enter sends, Shift+Enter starts a new line.
      </span>
      <label htmlFor={fileInputId} className="button ghost composer-attach" title="Attach files (photos, PDF, documents; 5 MB each)">
        Attach<span className="visually-hidden"> files</span>
      </label>
      <input
        id={fileInputId}
        type="file"
        multiple
        accept={ACCEPT}
        className="visually-hidden"
        disabled={disabled}
        onChange={(event) => {
          void pick(event.target.files);
          event.target.value = '';
        }}
      />
      <button type="submit" className="button primary" disabled={!ready}>
        Send
      </button>
      {files.length || uploading || fileError ? (
        <div className="composer-files">
          <ul aria-label="Files to send">
            {files.map((file) => (
              <li key={file.id} className="file-chip">
                📎 {file.name}
                <button type="button" className="link-button" aria-label={`Remove ${file.name}`} onClick={() => remove(file)}>
                  ×
                </button>
              </li>
            ))}
            {uploading ? <li className="muted">Uploading {uploading === 1 ? 'a file' : `${uploading} files`}…</li> : null}
          </ul>
          <ErrorNote error={fileError} inline />
        </div>
      ) : null}
    </form>
  );
}
