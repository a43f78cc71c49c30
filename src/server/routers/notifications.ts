import { tracked, type TrackedEnvelope } from '@trpc/server';
import type { LogEvent, NotificationsReadEvent, StreamItem, ResyncSignal } from '../../shared/events.ts';
import {
  markReadInput,
  notificationsListInput,
  notificationsOnNewInput,
  notificationsSinceInput,
  type Notification,
  type NotificationKind,
  type NotificationsRead,
} from '../../shared/notifications.ts';
import { commitChange } from '../events/commit.ts';
import { idempotencyOf } from '../events/idempotency.ts';
import type { Db } from '../db/client.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { NOTIFYING_MODULES, notifies } from '../notifications/sources.ts';
import { authedProcedure, router } from '../trpc.ts';

type Row = NonNullable<Awaited<ReturnType<Db['notification']['findFirst']>>>;

function toNotification(row: Row): Notification {
  return {
    id: row.id,
    kind: row.kind as NotificationKind,
    title: row.title,
    body: row.body,
    module: row.module,
    recordId: row.recordId,
    eventSeq: row.eventSeq,
    readAt: row.readAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

function toRead(event: Pick<NotificationsReadEvent, 'seq' | 'data'>): NotificationsRead {
  return { type: 'NOTIFICATIONS_READ', ...event.data, eventSeq: event.seq };
}

/** The caller's own: notifications for them, and their marks of read. */
const isMine = (userId: string, event: LogEvent) => notifies(userId, event) || (event.module === 'notifications' && event.recordId === userId);

/** The user's notifications raised by each event of the stream (written in the event's own transaction), and their marks of read. */
async function* notificationsOf(
  db: Db,
  userId: string,
  source: AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>>,
): AsyncGenerator<TrackedEnvelope<Notification | NotificationsRead | ResyncSignal>> {
  for await (const [id, item] of source) {
    if (item.type === 'RESYNC') {
      yield tracked(id, item);
      continue;
    }
    if (item.type === 'notifications:read') {
      yield tracked(id, toRead(item));
      continue;
    }
    const rows = await db.notification.findMany({ where: { userId, eventSeq: item.seq }, orderBy: { createdAt: 'asc' } });
    for (const row of rows) yield tracked(id, toNotification(row));
  }
}

export const notificationsRouter = router({
  /** Newest first, with the number of unread ones. */
  list: authedProcedure.input(notificationsListInput).query(async ({ ctx, input }) => {
    const { limit, before, unreadOnly } = input ?? { limit: 30, unreadOnly: false };
    const where = { userId: ctx.user.id, ...(unreadOnly ? { readAt: null } : {}) };
    const [rows, unread] = await Promise.all([
      ctx.db.notification.findMany({
        where: { ...where, ...(before ? { eventSeq: { lt: before } } : {}) },
        orderBy: [{ eventSeq: 'desc' }, { id: 'desc' }],
        take: limit,
      }),
      ctx.db.notification.count({ where: { userId: ctx.user.id, readAt: null } }),
    ]);
    return { items: rows.map(toNotification), unread, nextBefore: rows.length === limit ? rows.at(-1)!.eventSeq : null };
  }),
  /** Marks some (or all) of the caller's notifications read; others' ids are ignored. The caller's other tabs learn it through `onNew`. */
  markRead: authedProcedure.input(markReadInput).mutation(({ ctx, input }) => {
    const { user } = ctx;
    const { idempotencyKey, ...selection } = input;
    return commitChange(
      ctx,
      user.orgId,
      async (tx) => {
        const readAt = new Date();
        const ids = 'ids' in selection ? selection.ids : null;
        const { count } = await tx.notification.updateMany({ where: { userId: user.id, readAt: null, ...(ids ? { id: { in: ids } } : {}) }, data: { readAt } });
        const unread = await tx.notification.count({ where: { userId: user.id, readAt: null } });
        const result = { marked: count, unread };
        if (count === 0) return { result };
        const data = { ids, readAt: readAt.toISOString(), unread };
        return {
          result,
          event: { orgId: user.orgId, module: 'notifications' as const, action: 'notifications:read', recordId: user.id, version: 1, userId: user.id, data },
        };
      },
      { idempotency: idempotencyOf({ user, idempotencyKey }, ['notifications', 'markRead'], selection) },
    );
  }),
  /**
   * The caller's notifications raised by events after `lastEventId`, oldest first: what
   * `onNew` yields, read over HTTP (the link polls this while the WebSocket is down).
   */
  since: authedProcedure.input(notificationsSinceInput).query(async ({ ctx, input }) => {
    const afterSeq = Number(input.lastEventId);
    const [rows, reads] = await Promise.all([
      ctx.db.notification.findMany({
        where: { userId: ctx.user.id, eventSeq: { gt: afterSeq } },
        orderBy: [{ eventSeq: 'asc' }, { createdAt: 'asc' }],
        take: input.limit,
      }),
      ctx.db.event.findMany({
        where: { orgId: ctx.user.orgId, module: 'notifications', recordId: ctx.user.id, seq: { gt: afterSeq } },
        orderBy: { seq: 'asc' },
        take: input.limit,
      }),
    ]);
    const merged: (Notification | NotificationsRead)[] = [
      ...rows.map(toNotification),
      ...reads.map((row) => toRead({ seq: row.seq, data: row.data as NotificationsReadEvent['data'] })),
    ].sort((a, b) => a.eventSeq - b.eventSeq);
    // A full page of either source may have more after it: stop at the earlier end, so nothing between is skipped.
    const ends: number[] = [];
    if (rows.length === input.limit) ends.push(rows.at(-1)!.eventSeq);
    if (reads.length === input.limit) ends.push(reads.at(-1)!.seq);
    const upTo = ends.length ? Math.min(...ends) : Infinity;
    const events = merged.filter((item) => item.eventSeq <= upTo);
    return { events, lastEventId: events.at(-1) ? String(events.at(-1)!.eventSeq) : input.lastEventId, resync: null };
  }),
  /** New notifications of the caller as they are raised, resumable like every log subscription (tracked by the event's seq). */
  onNew: authedProcedure.input(notificationsOnNewInput).subscription(({ ctx, input, signal }) => {
    const userId = ctx.user.id;
    const source = subscribeToLog(ctx, { modules: [...NOTIFYING_MODULES, 'notifications'], predicate: (event) => isMine(userId, event) }, input ?? {}, signal);
    return notificationsOf(ctx.db, userId, source);
  }),
});
