import { randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import type { PublicUser } from '../../shared/auth.ts';
import {
  MESSAGE_STATUSES,
  NEW_CONVERSATION_WINDOW_MS,
  NEW_CONVERSATIONS_ANNOUNCED,
  type Channel,
  type CommsDataOf,
  type Conversation,
  type ConversationEvent,
  type Message,
  type MessageStatus,
} from '../../shared/comms.ts';
import type { AppDeps } from '../context.ts';
import type { Tx } from '../db/client.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { commitChange } from '../events/commit.ts';
import { idempotencyOf } from '../events/idempotency.ts';
import type { EventDraft } from '../events/log.ts';
import { findContact, normalizePhone } from './phone.ts';
import { attachUploads } from './uploads.ts';
import { type StoredMedia, toConversation, toMessage } from './wire.ts';

type Deps = Pick<AppDeps, 'db' | 'bus' | 'metrics'>;
/** What sending needs besides: the org's carrier for the channel, and the outbox to wake once the message is committed. */
type SendDeps = Deps & Partial<Pick<AppDeps, 'carriers' | 'outbox' | 'publicUrl'>>;

export interface Actor {
  deps: SendDeps;
  user: PublicUser;
  idempotencyKey?: string | undefined;
}

const PREVIEW_LENGTH = 140;

/** A conversation's last line in the list: the text, or what was attached when there is none. */
function previewOf(body: string, attachments: number): string {
  const preview = body.trim() || (attachments === 1 ? '📎 Attachment' : `📎 ${attachments} attachments`);
  return preview.slice(0, PREVIEW_LENGTH);
}

/** One event of a conversation's stream; its messages' events are the conversation's too. */
export function conversationEvent<T extends ConversationEvent['type']>(
  type: T,
  conversation: Conversation,
  userId: string | null,
  /** Also a plain record, as the log stores it (an event's data is a literal object). */
  data: CommsDataOf<T> & Record<string, unknown>,
): EventDraft {
  return {
    orgId: conversation.orgId,
    module: 'conversations',
    action: type,
    recordId: conversation.id,
    version: conversation.version,
    userId,
    data,
  };
}

export async function findConversation(tx: Tx | Deps['db'], orgId: string, id: string) {
  const row = await tx.conversation.findFirst({ where: { id, orgId } });
  if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `No conversation with id ${id}` });
  return row;
}

/** A message of a conversation, written at `at`, as the wire shape. */
async function createMessage(
  tx: Tx,
  conversation: { id: string; orgId: string },
  at: Date,
  fields: {
    direction: 'inbound' | 'outbound';
    body: string;
    status: MessageStatus;
    providerSid?: string;
    authorId?: string;
    deliveredAt?: Date;
    media?: StoredMedia[] | undefined;
  },
): Promise<Message> {
  return toMessage(await tx.message.create({ data: { orgId: conversation.orgId, conversationId: conversation.id, createdAt: at, ...fields } }));
}

/** How long the outbox keeps trying a message before it fails (`CARRIER_SEND_DEADLINE_MS`). */
export const DEFAULT_SEND_DEADLINE_MS = 3_600_000;

/**
 * An agent's message out. With a carrier connected for the channel it is `queued`, and its
 * outbox row is written in the same transaction (carriers/outbox.ts sends it and records the
 * carrier's id). Without one it is recorded as `sent` under an id of ours, which the generic
 * status webhook reports against (the org's own relay reads it from the stream).
 */
async function createOutboundMessage(
  tx: Tx,
  deps: SendDeps,
  conversation: { id: string; orgId: string; channel: string },
  at: Date,
  body: string,
  authorId: string,
  attachments: readonly string[] = [],
): Promise<Message> {
  const carrier = deps.carriers ? await deps.carriers.forChannel(tx, conversation.orgId, conversation.channel) : null;
  const files = await attachUploads(tx, { userId: authorId, orgId: conversation.orgId }, attachments, conversation.channel, body);
  const media = files.media.length ? { media: files.media } : {};
  if (!carrier) {
    const message = await createMessage(tx, conversation, at, {
      direction: 'outbound',
      body,
      status: 'sent',
      authorId,
      providerSid: `TM${randomBytes(16).toString('hex')}`,
      ...media,
    });
    await files.attach(message.id, at);
    return message;
  }
  if (conversation.channel === 'whatsapp') await checkWhatsAppWindow(tx, conversation, at);
  // The carrier fetches attached files from their public link, which needs the server's public address.
  if (files.media.length && !deps.publicUrl) {
    throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'attachments: Sending files needs the server’s public address (PUBLIC_URL), which the carrier fetches them from' });
  }
  const message = await createMessage(tx, conversation, at, { direction: 'outbound', body, status: 'queued', authorId, ...media });
  await files.attach(message.id, at);
  await tx.outboxMessage.create({
    data: {
      orgId: conversation.orgId,
      messageId: message.id,
      carrierId: carrier.id,
      deadlineAt: new Date(at.getTime() + (deps.outbox?.deadlineMs ?? DEFAULT_SEND_DEADLINE_MS)),
    },
  });
  return message;
}

/** WhatsApp's customer-service window: a business may write freely for 24 hours after the customer's last message. */
export const WHATSAPP_WINDOW_MS = 24 * 3_600_000;

/**
 * Outside the window WhatsApp accepts only approved templates, which Tandem does not send
 * yet: the agent is told now, rather than the message failing later at the carrier.
 */
async function checkWhatsAppWindow(tx: Tx, conversation: { id: string }, at: Date) {
  const last = await tx.message.findFirst({
    where: { conversationId: conversation.id, direction: 'inbound' },
    orderBy: { createdAt: 'desc' },
    select: { createdAt: true },
  });
  if (last && at.getTime() - last.createdAt.getTime() < WHATSAPP_WINDOW_MS) return;
  throw new TRPCError({
    code: 'PRECONDITION_FAILED',
    message: last
      ? `WhatsApp lets a business reply freely for 24 hours after the customer's last message, which came ${last.createdAt.toISOString()}: ask them to write again, or use SMS (template messages are not supported yet)`
      : 'WhatsApp lets a business write first only with an approved template, which Tandem does not send yet: use SMS, or wait for the customer to write',
  });
}

/** After the commit: this node's outbox sends at once (the others find it when they next look). */
function wakeOutbox(deps: SendDeps, message: Message) {
  if (message.status === 'queued') deps.outbox?.wake();
}

/**
 * The contact's open conversation on the channel, changed by `changes` (a new version),
 * or else a new one from `fresh()`: a contact has one open conversation per channel.
 */
async function continueOrStart(
  tx: Tx,
  key: { orgId: string; channel: Channel; contactPhone: string },
  changes: Prisma.ConversationUpdateInput,
  fresh: () => Promise<Omit<Prisma.ConversationUncheckedCreateInput, 'orgId' | 'channel' | 'contactPhone'>>,
) {
  const open = await tx.conversation.findFirst({ where: { ...key, status: 'open' }, orderBy: { createdAt: 'desc' } });
  if (open) return { row: await tx.conversation.update({ where: { id: open.id }, data: { ...changes, version: { increment: 1 } } }), started: false };
  return { row: await tx.conversation.create({ data: { ...key, ...(await fresh()) } }), started: true };
}

export interface InboundMessage {
  orgId: string;
  channel: Channel;
  /** The contact's number, normalized. */
  from: string;
  /** The org's number, normalized. */
  to: string;
  body: string;
  providerSid: string;
  /** Photos and documents that came with it (the carrier keeps them; see carriers/media.ts). */
  media?: StoredMedia[] | undefined;
}

/**
 * A message from a contact: continues their open conversation on that channel or
 * starts one (named after the client or lead with that number). The same
 * `providerSid` twice is one message: the second delivery changes nothing.
 */
export async function receiveInboundMessage(deps: Deps, inbound: InboundMessage): Promise<{ duplicate: boolean; message: Message; conversation: Conversation }> {
  return commitChange<{ duplicate: boolean; message: Message; conversation: Conversation }>(deps, inbound.orgId, async (tx) => {
    const existing = await tx.message.findUnique({ where: { orgId_providerSid: { orgId: inbound.orgId, providerSid: inbound.providerSid } } });
    if (existing) {
      const conversation = await findConversation(tx, inbound.orgId, existing.conversationId);
      return { result: { duplicate: true, message: toMessage(existing), conversation: toConversation(conversation) } };
    }
    const now = new Date();
    const attachments = inbound.media?.length ?? 0;
    const summary = { lastMessageAt: now, lastMessagePreview: previewOf(inbound.body, attachments) };
    const { row, started } = await continueOrStart(
      tx,
      { orgId: inbound.orgId, channel: inbound.channel, contactPhone: inbound.from },
      { ...summary, unreadCount: { increment: 1 } },
      async () => {
        const contact = await findContact(tx, inbound.orgId, inbound.from);
        return { contactName: contact.name, clientId: contact.clientId, leadId: contact.leadId, orgNumber: inbound.to, unreadCount: 1, ...summary };
      },
    );
    const events: EventDraft[] = [];
    const conversation = toConversation(row);
    if (started) events.push(await newConversationEvent(tx, conversation, inbound.body, attachments));
    const message = await createMessage(tx, row, now, {
      direction: 'inbound',
      body: inbound.body,
      status: 'delivered',
      deliveredAt: now,
      providerSid: inbound.providerSid,
      ...(attachments ? { media: inbound.media } : {}),
    });
    events.push(conversationEvent('message:new', conversation, null, { message, conversation }));
    return { result: { duplicate: false, message, conversation }, events };
  });
}

/**
 * A customer starts a conversation: its assignee is told, or when it has none (a new
 * contact), everyone who can answer it, that is every active person of the org, unless
 * the org already had `NEW_CONVERSATIONS_ANNOUNCED` new ones within the window.
 */
async function newConversationEvent(tx: Tx, conversation: Conversation, body: string, attachments: number): Promise<EventDraft> {
  if (!conversation.assigneeId) {
    const since = new Date(Date.now() - NEW_CONVERSATION_WINDOW_MS);
    // This one included: it was written in this transaction, under the org's lock.
    const recent = await tx.conversation.count({ where: { orgId: conversation.orgId, createdAt: { gte: since } } });
    if (recent > NEW_CONVERSATIONS_ANNOUNCED) return conversationEvent('conversation:new', conversation, null, { conversation, notifiedUserIds: [], quieted: true });
  }
  const people = conversation.assigneeId
    ? [{ id: conversation.assigneeId }]
    : await tx.user.findMany({ where: { orgId: conversation.orgId, deactivatedAt: null }, select: { id: true } });
  const notifiedUserIds = people.map((person) => person.id);
  const event = conversationEvent('conversation:new', conversation, null, { conversation, notifiedUserIds });
  const channel = conversation.channel === 'whatsapp' ? 'WhatsApp' : conversation.channel === 'sms' ? 'SMS' : 'chat';
  event.notifications = notifiedUserIds.map((userId) => ({
    userId,
    kind: 'conversation_new' as const,
    title: `New ${channel} conversation: ${conversation.contactName ?? conversation.contactPhone ?? 'a contact'}`,
    body: previewOf(body, attachments),
    module: 'conversations',
    recordId: conversation.id,
  }));
  return event;
}

/** An agent's reply: queued for the org's carrier, or recorded as sent (see `createOutboundMessage`). */
export async function sendMessage(actor: Actor, input: { conversationId: string; body: string; attachments?: string[] | undefined }): Promise<Message> {
  const { user } = actor;
  const message = await commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = await findConversation(tx, user.orgId, input.conversationId);
      const now = new Date();
      const row = await tx.conversation.update({
        where: { id: current.id },
        // Replying reopens a closed conversation.
        data: { status: 'open', lastMessageAt: now, lastMessagePreview: previewOf(input.body, input.attachments?.length ?? 0), version: { increment: 1 } },
      });
      const message = await createOutboundMessage(tx, actor.deps, current, now, input.body, user.id, input.attachments);
      const conversation = toConversation(row);
      return { result: message, event: conversationEvent('message:new', conversation, user.id, { message, conversation }) };
    },
    { idempotency: idempotencyOf(actor, ['conversations', 'send'], input) },
  );
  wakeOutbox(actor.deps, message);
  return message;
}

/**
 * An agent texts a client, a lead or a number: continues the open conversation with
 * that number on that channel, or starts one, with the message as its first.
 */
export async function startConversation(
  actor: Actor,
  input: { channel: 'sms' | 'whatsapp'; clientId?: string | undefined; leadId?: string | undefined; phone?: string | undefined; body: string },
): Promise<{ conversation: Conversation; message: Message }> {
  const { user } = actor;
  const started = await commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const contact = await contactToWrite(tx, user.orgId, input);
      const now = new Date();
      const summary = { lastMessageAt: now, lastMessagePreview: previewOf(input.body, 0) };
      const { row, started } = await continueOrStart(tx, { orgId: user.orgId, channel: input.channel, contactPhone: contact.phone }, summary, async () => {
        const orgNumber = await tx.phoneNumber.findFirst({ where: { orgId: user.orgId }, orderBy: { createdAt: 'asc' } });
        const { phone: _phone, ...names } = contact;
        return { ...names, orgNumber: orgNumber?.number ?? null, assigneeId: user.id, ...summary };
      });
      const conversation = toConversation(row);
      const message = await createOutboundMessage(tx, actor.deps, row, now, input.body, user.id);
      const events = [
        ...(started ? [conversationEvent('conversation:new', conversation, user.id, { conversation })] : []),
        conversationEvent('message:new', conversation, user.id, { message, conversation }),
      ];
      return { result: { conversation, message }, events };
    },
    { idempotency: idempotencyOf(actor, ['conversations', 'start'], input) },
  );
  wakeOutbox(actor.deps, started.message);
  return started;
}

/** The number and name to write to, from a client, a lead (of the org) or a number. */
async function contactToWrite(tx: Tx, orgId: string, input: { clientId?: string | undefined; leadId?: string | undefined; phone?: string | undefined }) {
  const bad = (message: string) => new TRPCError({ code: 'BAD_REQUEST', message });
  if (input.clientId) {
    const client = await tx.client.findFirst({ where: { id: input.clientId, orgId }, select: { firstName: true, lastName: true, phone: true } });
    if (!client) throw bad(`clientId: No client with id ${input.clientId}`);
    const phone = client.phone && normalizePhone(client.phone);
    if (!phone) throw bad('clientId: This client has no phone number');
    return { phone, contactName: `${client.firstName} ${client.lastName}`, clientId: input.clientId, leadId: null };
  }
  if (input.leadId) {
    const lead = await tx.lead.findFirst({ where: { id: input.leadId, orgId }, select: { name: true, phone: true } });
    if (!lead) throw bad(`leadId: No lead with id ${input.leadId}`);
    const phone = lead.phone && normalizePhone(lead.phone);
    if (!phone) throw bad('leadId: This lead has no phone number');
    return { phone, contactName: lead.name, clientId: null, leadId: input.leadId };
  }
  const phone = normalizePhone(input.phone ?? '');
  if (!phone) throw bad('phone: Invalid phone number');
  const found = await findContact(tx, orgId, phone);
  return { phone, contactName: found.name, clientId: found.clientId, leadId: found.leadId };
}

/** The caller read the conversation: its inbound messages become `read` and its unread count 0. */
export async function markMessagesRead(actor: Actor, input: { conversationId: string }): Promise<{ read: number; conversation: Conversation }> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = await findConversation(tx, user.orgId, input.conversationId);
      const unread = await tx.message.findMany({
        where: { conversationId: current.id, direction: 'inbound', readAt: null },
        select: { id: true },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      });
      if (!unread.length && current.unreadCount === 0) return { result: { read: 0, conversation: toConversation(current) } };
      const at = new Date();
      await tx.message.updateMany({ where: { id: { in: unread.map((row) => row.id) } }, data: { status: 'read', readAt: at } });
      const conversation = toConversation(await tx.conversation.update({ where: { id: current.id }, data: { unreadCount: 0, version: { increment: 1 } } }));
      const messageIds = unread.map((row) => row.id);
      return {
        result: { read: messageIds.length, conversation },
        event: conversationEvent('message:read', conversation, user.id, { messageIds, status: 'read', at: at.toISOString(), conversation }),
      };
    },
    { idempotency: idempotencyOf(actor, ['conversations', 'markRead'], input) },
  );
}

/** Twilio-style MessageStatus values of the generic status webhook, mapped onto ours. */
const CARRIER_STATUSES: Record<string, Exclude<MessageStatus, 'queued'>> = {
  queued: 'sent',
  accepted: 'sent',
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  failed: 'failed',
  undelivered: 'failed',
};

export function carrierStatus(value: string): Exclude<MessageStatus, 'queued'> | undefined {
  return CARRIER_STATUSES[value.toLowerCase()];
}

const STATUS_EVENTS = { sent: 'message:sent', delivered: 'message:delivered', read: 'message:read', failed: 'message:failed' } as const;

export interface StatusReport {
  status: Exclude<MessageStatus, 'queued'>;
  /** The carrier's id for the message, when it is learnt now (the send's answer, or a callback that arrived first). */
  providerSid?: string | undefined;
  /** Why it failed. */
  reason?: string | undefined;
}

/**
 * What a carrier (or the outbox) says of one of our messages, found by our id or by the
 * carrier's. Statuses only move forward (carriers report out of order and more than once):
 * a report that does not advance the message raises no event, but still records the
 * carrier's id if it was missing. Any report settles the message's outbox row: the carrier
 * has it, so no attempt follows (carriers/outbox.ts).
 */
export async function advanceMessageStatus(
  deps: Deps,
  orgId: string,
  target: { messageId: string } | { providerSid: string },
  report: StatusReport,
): Promise<'updated' | 'unchanged' | 'unknown'> {
  return commitChange(deps, orgId, async (tx) => {
    const row =
      'messageId' in target
        ? await tx.message.findFirst({ where: { id: target.messageId, orgId } })
        : await tx.message.findUnique({ where: { orgId_providerSid: { orgId, providerSid: target.providerSid } } });
    if (!row) return { result: 'unknown' as const };
    // A late report of an earlier attempt of a message sent again (messages.retry): not about this one.
    if (report.providerSid && row.providerSid && row.providerSid !== report.providerSid) return { result: 'unchanged' as const };
    await tx.outboxMessage.updateMany({ where: { messageId: row.id, state: { not: 'done' } }, data: { state: 'done' } });
    const learnt = report.providerSid && !row.providerSid ? { providerSid: report.providerSid } : {};
    const rank = (value: string) => MESSAGE_STATUSES.indexOf(value as MessageStatus);
    const { status } = report;
    if (row.status === 'failed' || rank(status) <= rank(row.status)) {
      if (learnt.providerSid) await tx.message.update({ where: { id: row.id }, data: learnt });
      return { result: 'unchanged' as const };
    }
    const at = new Date();
    await tx.message.update({
      where: { id: row.id },
      data: {
        ...learnt,
        status,
        ...(status === 'failed' ? { failedAt: at, failureReason: report.reason?.slice(0, 500) ?? 'The carrier reported a failure' } : {}),
        // A "read" report implies delivery.
        ...(status === 'delivered' || (status === 'read' && !row.deliveredAt) ? { deliveredAt: at } : {}),
        ...(status === 'read' ? { readAt: at } : {}),
      },
    });
    const conversation = toConversation(await findConversation(tx, orgId, row.conversationId));
    const reason = status === 'failed' ? { reason: report.reason?.slice(0, 500) ?? 'The carrier reported a failure' } : {};
    return {
      result: 'updated' as const,
      event: conversationEvent(STATUS_EVENTS[status], conversation, null, { messageIds: [row.id], status, at: at.toISOString(), conversation, ...reason }),
    };
  });
}

/**
 * An agent sends a failed message again: it is queued anew for the org's current carrier
 * (`message:queued`, the one way a status goes back), with a fresh outbox row and deadline.
 */
export async function retryMessage(actor: Actor, input: { id: string }): Promise<Message> {
  const { user, deps } = actor;
  const message = await commitChange(
    deps,
    user.orgId,
    async (tx) => {
      const row = await tx.message.findFirst({ where: { id: input.id, orgId: user.orgId } });
      if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `No message with id ${input.id}` });
      if (row.direction !== 'outbound' || row.status !== 'failed') throw new TRPCError({ code: 'BAD_REQUEST', message: 'Only a failed outbound message can be sent again' });
      const current = await findConversation(tx, user.orgId, row.conversationId);
      const carrier = deps.carriers ? await deps.carriers.forChannel(tx, user.orgId, current.channel) : null;
      if (!carrier) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `No carrier is connected for ${current.channel}: an admin connects one in Team › Carriers` });
      const now = new Date();
      const queued = toMessage(await tx.message.update({ where: { id: row.id }, data: { status: 'queued', failedAt: null, failureReason: null, providerSid: null } }));
      const outbox = {
        carrierId: carrier.id,
        state: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        deadlineAt: new Date(now.getTime() + (deps.outbox?.deadlineMs ?? DEFAULT_SEND_DEADLINE_MS)),
        lastError: null,
      };
      await tx.outboxMessage.upsert({ where: { messageId: row.id }, create: { orgId: user.orgId, messageId: row.id, ...outbox }, update: outbox });
      const conversation = toConversation(current);
      return {
        result: queued,
        event: conversationEvent('message:queued', conversation, user.id, { messageIds: [row.id], status: 'queued', at: now.toISOString(), conversation }),
      };
    },
    { idempotency: idempotencyOf(actor, ['messages', 'retry'], input) },
  );
  wakeOutbox(deps, message);
  return message;
}

/** A delivery report by the carrier's id (the generic status webhook). */
export function updateDeliveryStatus(deps: Deps, orgId: string, providerSid: string, status: Exclude<MessageStatus, 'queued'>): Promise<'updated' | 'unchanged' | 'unknown'> {
  return advanceMessageStatus(deps, orgId, { providerSid }, { status });
}

export async function assignConversation(actor: Actor, input: { id: string; assigneeId: string | null }): Promise<Conversation> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = await findConversation(tx, user.orgId, input.id);
      if (input.assigneeId) {
        const assignee = await tx.user.findFirst({ where: { id: input.assigneeId, orgId: user.orgId }, select: { id: true } });
        if (!assignee) throw new TRPCError({ code: 'BAD_REQUEST', message: `assigneeId: No user with id ${input.assigneeId}` });
      }
      if (current.assigneeId === input.assigneeId) return { result: toConversation(current) };
      const conversation = toConversation(await tx.conversation.update({ where: { id: current.id }, data: { assigneeId: input.assigneeId, version: { increment: 1 } } }));
      // Taking a conversation yourself is not news to you.
      const notified = input.assigneeId && input.assigneeId !== user.id ? [input.assigneeId] : [];
      const event = conversationEvent('conversation:assigned', conversation, user.id, {
        conversation,
        previousAssigneeId: current.assigneeId,
        notifiedUserIds: notified,
      });
      event.notifications = notified.map((userId) => ({
        userId,
        kind: 'conversation_assigned' as const,
        title: `Conversation assigned to you: ${conversation.contactName ?? conversation.contactPhone ?? 'chat'}`,
        body: conversation.lastMessagePreview,
        module: 'conversations',
        recordId: conversation.id,
      }));
      return { result: conversation, event };
    },
    { idempotency: idempotencyOf(actor, ['conversations', 'assign'], input) },
  );
}

export async function closeConversation(actor: Actor, input: { id: string }): Promise<Conversation> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = await findConversation(tx, user.orgId, input.id);
      if (current.status === 'closed') return { result: toConversation(current) };
      const conversation = toConversation(await tx.conversation.update({ where: { id: current.id }, data: { status: 'closed', version: { increment: 1 } } }));
      return { result: conversation, event: conversationEvent('conversation:updated', conversation, user.id, { conversation }) };
    },
    { idempotency: idempotencyOf(actor, ['conversations', 'close'], input) },
  );
}
