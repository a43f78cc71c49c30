import { TRPCError } from '@trpc/server';
import { CONVERSATION_HISTORY_ACTIONS, type HistoryItem, type HistoryPage } from '../../shared/history.ts';
import type { Db } from '../db/client.ts';

/** What a person changes of a conversation. */
const FIELDS = ['status', 'assigneeId', 'contactName', 'clientId', 'leadId'] as const;

/**
 * Who opened, assigned, closed or reopened a conversation, and when, newest first: each
 * event carries the conversation as it became, so a change is the difference from the one
 * before it. NOT_FOUND for a conversation the org does not have.
 */
export async function conversationHistory(db: Db, orgId: string, input: { id: string; cursor?: number | undefined; limit: number }): Promise<HistoryPage> {
  if (!input.cursor && !(await db.conversation.findFirst({ where: { id: input.id, orgId }, select: { id: true } }))) {
    throw new TRPCError({ code: 'NOT_FOUND', message: `No conversation with id ${input.id}` });
  }
  // One more than the page tells whether there is a next page, and one more again is the state before the page's oldest.
  const rows = await db.event.findMany({
    where: { orgId, module: 'conversations', recordId: input.id, action: { in: [...CONVERSATION_HISTORY_ACTIONS] }, ...(input.cursor ? { seq: { lt: input.cursor } } : {}) },
    orderBy: { seq: 'desc' },
    take: input.limit + 2,
    select: { seq: true, version: true, action: true, userId: true, data: true, createdAt: true },
  });
  const snapshot = (row: (typeof rows)[number] | undefined) => ((row?.data ?? {}) as { conversation?: Record<string, unknown> }).conversation ?? {};
  const page = rows.slice(0, input.limit);
  const items: HistoryItem[] = page.map((row, index) => {
    const now = snapshot(row);
    const before = row.action === 'conversation:new' ? {} : snapshot(rows[index + 1]);
    const changes: HistoryItem['changes'] = {};
    for (const field of FIELDS) {
      const from = before[field] ?? null;
      const to = now[field] ?? null;
      if (from !== to) changes[field] = { from, to };
    }
    return {
      seq: row.seq,
      version: row.version,
      action: row.action === 'conversation:new' ? 'created' : 'updated',
      userId: row.userId,
      timestamp: row.createdAt.toISOString(),
      changes,
      mergedFromVersion: null,
      overridesVersion: null,
    };
  });
  return { items, nextCursor: rows.length > input.limit ? (page.at(-1)?.seq ?? null) : null };
}
