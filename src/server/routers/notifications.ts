import { tracked, type TrackedEnvelope } from '@trpc/server';
import type { LogEvent, StreamItem, ResyncSignal } from '../../shared/events.ts';
import { markReadInput, notificationsListInput, notificationsOnNewInput, notificationsSinceInput, type Notification, type NotificationKind } from '../../shared/notifications.ts';
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

/** The user's notifications raised by each event of the stream (written in the event's own transaction). */
async function* notificationsOf(
  db: Db,
  userId: string,
  source: AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>>,
): AsyncGenerator<TrackedEnvelope<Notification | ResyncSignal>> {
  for await (const [id, item] of source) {
    if (item.type === 'RESYNC') {
      yield tracked(id, item);
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
  /** Marks some (or all) of the caller's notifications read; others' ids are ignored. */
  markRead: authedProcedure.input(markReadInput).mutation(async ({ ctx, input }) => {
    const { count } = await ctx.db.notification.updateMany({
      where: { userId: ctx.user.id, readAt: null, ...('ids' in input ? { id: { in: input.ids } } : {}) },
      data: { readAt: new Date() },
    });
    return { marked: count, unread: await ctx.db.notification.count({ where: { userId: ctx.user.id, readAt: null } }) };
  }),
  /**
   * The caller's notifications raised by events after `lastEventId`, oldest first: what
   * `onNew` yields, read over HTTP (the link polls this while the WebSocket is down).
   */
  since: authedProcedure.input(notificationsSinceInput).query(async ({ ctx, input }) => {
    const rows = await ctx.db.notification.findMany({
      where: { userId: ctx.user.id, eventSeq: { gt: Number(input.lastEventId) } },
      orderBy: [{ eventSeq: 'asc' }, { createdAt: 'asc' }],
      take: input.limit,
    });
    const events = rows.map(toNotification);
    return { events, lastEventId: events.at(-1) ? String(events.at(-1)!.eventSeq) : input.lastEventId, resync: null };
  }),
  /** New notifications of the caller as they are raised, resumable like every log subscription (tracked by the event's seq). */
  onNew: authedProcedure.input(notificationsOnNewInput).subscription(({ ctx, input, signal }) => {
    const userId = ctx.user.id;
    const source = subscribeToLog(ctx, { modules: NOTIFYING_MODULES, predicate: (event) => notifies(userId, event) }, input ?? {}, signal);
    return notificationsOf(ctx.db, userId, source);
  }),
});
