import { onAnyInput, sinceInput } from '../../shared/events.ts';
import { readEventsAfter } from '../events/log.ts';
import { streamEvents } from '../events/stream.ts';
import { authedProcedure, router } from '../trpc.ts';

export const eventsRouter = router({
  /** Every event of the caller's org (optionally of some modules), resumable by `lastEventId`. */
  onAny: authedProcedure.input(onAnyInput).subscription(({ ctx, input, signal }) => {
    return streamEvents({
      db: ctx.db,
      bus: ctx.bus,
      orgId: ctx.user.orgId,
      filter: { modules: input.modules },
      lastEventId: input.lastEventId,
      signal,
    });
  }),
  /** The same events read from the log over plain HTTP: what the polling fallback uses. */
  since: authedProcedure.input(sinceInput).query(async ({ ctx, input }) => {
    const events = await readEventsAfter(ctx.db, {
      orgId: ctx.user.orgId,
      afterSeq: Number(input.lastEventId),
      modules: input.modules,
      recordId: input.recordId,
      limit: input.limit,
    });
    return { events, lastEventId: events.at(-1) ? String(events.at(-1)!.seq) : input.lastEventId };
  }),
  /** The newest event id of the org: where a client that needs no history starts polling from. */
  head: authedProcedure.query(async ({ ctx }) => {
    const last = await ctx.db.event.findFirst({ where: { orgId: ctx.user.orgId }, orderBy: { seq: 'desc' }, select: { seq: true } });
    return { lastEventId: String(last?.seq ?? 0) };
  }),
});
