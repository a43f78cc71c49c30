import { z } from 'zod';
import { idSchema } from '../../shared/text.ts';
import type { TrackedEnvelope } from '@trpc/server';
import {
  assignConversationInput,
  closeConversationInput,
  conversationIdInput,
  conversationsListInput,
  markMessagesReadInput,
  retryMessageInput,
  messagesListInput,
  onConversationInput,
  sendMessageInput,
  startConversationInput,
  streamInput,
  type Conversation,
  type ConversationEvent,
} from '../../shared/comms.ts';
import type { StreamItem } from '../../shared/events.ts';
import { assignConversation, closeConversation, findConversation, markMessagesRead, retryMessage, sendMessage, startConversation } from '../comms/conversations.ts';
import { toConversation, toMessage } from '../comms/wire.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { authedProcedure, router } from '../trpc.ts';
import { TRPCError } from '@trpc/server';
import { historyInput } from '../../shared/history.ts';
import { conversationHistory } from '../comms/history.ts';

type ConversationStream = AsyncGenerator<TrackedEnvelope<StreamItem<ConversationEvent>>>;

const pageCursor = z.tuple([z.iso.datetime(), idSchema]);
const encodeCursor = (at: Date, id: string) => Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [at, id] = pageCursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { at: new Date(at), id };
  } catch {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'cursor: Invalid cursor' });
  }
}

export const conversationsRouter = router({
  /** The org's conversations, latest message first (every conversation has one: it starts with a message). */
  list: authedProcedure.input(conversationsListInput).query(async ({ ctx, input }) => {
    const after = input.cursor ? decodeCursor(input.cursor) : null;
    const rows = await ctx.db.conversation.findMany({
      where: {
        orgId: ctx.user.orgId,
        ...(input.status ? { status: input.status } : {}),
        ...(input.channel ? { channel: input.channel } : {}),
        ...(input.assigneeId !== undefined ? { assigneeId: input.assigneeId === 'me' ? ctx.user.id : input.assigneeId } : {}),
        ...(after ? { OR: [{ lastMessageAt: { lt: after.at } }, { lastMessageAt: after.at, id: { lt: after.id } }] } : {}),
      },
      orderBy: [{ lastMessageAt: 'desc' }, { id: 'desc' }],
      take: input.limit + 1,
    });
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return { items: page.map(toConversation), nextCursor: rows.length > input.limit && last ? encodeCursor(last.lastMessageAt ?? last.createdAt, last.id) : null };
  }),
  byId: authedProcedure.input(conversationIdInput).query(async ({ ctx, input }): Promise<Conversation> => {
    return toConversation(await findConversation(ctx.db, ctx.user.orgId, input.id));
  }),
  /** Who opened, assigned, closed or reopened it, and when, newest first (its messages are its thread). */
  history: authedProcedure.input(historyInput).query(({ ctx, input }) => conversationHistory(ctx.db, ctx.user.orgId, input)),
  /** Texts a client, a lead or a number: their open conversation on that channel, or a new one assigned to the caller. */
  start: authedProcedure.input(startConversationInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...start } = input;
    return startConversation({ deps: ctx, user: ctx.user, idempotencyKey }, start);
  }),
  assign: authedProcedure.input(assignConversationInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...change } = input;
    return assignConversation({ deps: ctx, user: ctx.user, idempotencyKey }, change);
  }),
  close: authedProcedure.input(closeConversationInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...target } = input;
    return closeConversation({ deps: ctx, user: ctx.user, idempotencyKey }, target);
  }),
  /**
   * Every event of the org's conversations (`conversation:*` and their `message:*`),
   * resumable by `lastEventId` like the record streams.
   */
  onChange: authedProcedure.input(streamInput).subscription(({ ctx, input, signal }) => {
    return subscribeToLog(ctx, { modules: ['conversations'] }, input ?? {}, signal) as ConversationStream;
  }),
});

export const messagesRouter = router({
  /** Newest first; `nextCursor` pages to older messages. */
  list: authedProcedure.input(messagesListInput).query(async ({ ctx, input }) => {
    const conversation = await findConversation(ctx.db, ctx.user.orgId, input.conversationId);
    const before = input.cursor ? decodeCursor(input.cursor) : null;
    const rows = await ctx.db.message.findMany({
      where: {
        conversationId: conversation.id,
        ...(before ? { OR: [{ createdAt: { lt: before.at } }, { createdAt: before.at, id: { lt: before.id } }] } : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: input.limit + 1,
    });
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return { items: page.map(toMessage), nextCursor: rows.length > input.limit && last ? encodeCursor(last.createdAt, last.id) : null };
  }),
  send: authedProcedure.input(sendMessageInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...message } = input;
    return sendMessage({ deps: ctx, user: ctx.user, idempotencyKey }, message);
  }),
  /** A failed outbound message, queued again for the org's carrier (`message:queued`). */
  retry: authedProcedure.input(retryMessageInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...target } = input;
    return retryMessage({ deps: ctx, user: ctx.user, idempotencyKey }, target);
  }),
  /** The caller has read the conversation: its inbound messages become `read` (`message:read`) and its unread count 0. */
  markRead: authedProcedure.input(markMessagesReadInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...target } = input;
    return markMessagesRead({ deps: ctx, user: ctx.user, idempotencyKey }, target);
  }),
  /** One conversation's events: new messages, delivery ticks, assignment and status. Typing: `typing.*` with module `conversations`. */
  onConversation: authedProcedure.input(onConversationInput).subscription(async ({ ctx, input, signal }) => {
    // Not found is an error now, not an empty stream forever.
    await findConversation(ctx.db, ctx.user.orgId, input.conversationId);
    return subscribeToLog(ctx, { modules: ['conversations'], recordId: input.conversationId }, input, signal) as ConversationStream;
  }),
});
