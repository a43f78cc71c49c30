import { onAnyInput, sinceInput } from '../../shared/events.ts';
import { readEventsAfter, readLogBounds, resyncReason } from '../events/log.ts';
import { resyncSignal } from '../events/stream.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { authedProcedure, router } from '../trpc.ts';

export const eventsRouter = router({
  /** Every event of the caller's org (optionally of some modules), resumable by `lastEventId`. */
  onAny: authedProcedure.input(onAnyInput).subscription(({ ctx, input, signal }) => {
    return subscribeToLog(ctx, { modules: input.modules }, input, signal);
  }),
  /** The same events read from the log over plain HTTP: what the polling fallback uses. */
  since: authedProcedure.input(sinceInput).query(async ({ ctx, input }) => {
    const afterSeq = Number(input.lastEventId);
    const filter = { modules: input.modules, recordId: input.recordId };
    const bounds = await readLogBounds(ctx.db, ctx.user.orgId);
    const reason = resyncReason(bounds, afterSeq);
    if (reason) return { events: [], lastEventId: String(bounds.headSeq), resync: resyncSignal(reason, filter, bounds.headSeq) };
    const events = await readEventsAfter(ctx.db, { orgId: ctx.user.orgId, afterSeq, ...filter, limit: input.limit });
    return { events, lastEventId: events.at(-1) ? String(events.at(-1)!.seq) : input.lastEventId, resync: null };
  }),
  /** The newest event id of the org: where a client that needs no history starts polling from. */
  head: authedProcedure.query(async ({ ctx }) => {
    const { headSeq } = await readLogBounds(ctx.db, ctx.user.orgId);
    return { lastEventId: String(headSeq) };
  }),
});
