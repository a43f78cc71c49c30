import type { TrackedEnvelope } from '@trpc/server';
import { isRecordEvent, onAnyInput, sinceInput, type CrmEvent, type LogEvent, type StreamItem } from '../../shared/events.ts';
import { MODULE_NAMES } from '../../shared/modules.ts';
import { readEventsPage, readLogBounds, resyncReason } from '../events/log.ts';
import { resyncSignal } from '../events/stream.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { authedProcedure, router } from '../trpc.ts';

/** A record event of the team: the record is in it after the change, or an update took it out. */
function ofTeam(teamId: string, event: LogEvent): boolean {
  if (!isRecordEvent(event)) return false;
  if (event.teamId === teamId) return true;
  return event.action === 'updated' && (event.data as { teamId?: { from?: unknown } }).teamId?.from === teamId;
}

export const eventsRouter = router({
  /** Every record event of the caller's org (optionally of some modules), resumable by `lastEventId`. */
  onAny: authedProcedure.input(onAnyInput).subscription(({ ctx, input, signal }) => {
    const { teamId } = input;
    const stream = subscribeToLog(ctx, { modules: input.modules ?? MODULE_NAMES, ...(teamId ? { predicate: (event: LogEvent) => ofTeam(teamId, event) } : {}) }, input, signal);
    return stream as AsyncGenerator<TrackedEnvelope<StreamItem<CrmEvent>>>;
  }),
  /** The same events read from the log over plain HTTP (and, when named in `modules`, the communications streams): what the polling fallback uses. */
  since: authedProcedure.input(sinceInput).query(async ({ ctx, input }) => {
    const afterSeq = Number(input.lastEventId);
    const filter = { modules: input.modules ?? MODULE_NAMES, recordId: input.recordId };
    const bounds = await readLogBounds(ctx.db, ctx.user.orgId);
    const reason = resyncReason(bounds, afterSeq);
    if (reason) return { events: [], lastEventId: String(bounds.headSeq), more: false, resync: resyncSignal(reason, filter, bounds.headSeq) };
    const { events, more } = await readEventsPage(ctx.db, { orgId: ctx.user.orgId, afterSeq, ...filter, limit: input.limit });
    return { events: events as LogEvent[], lastEventId: events.at(-1) ? String(events.at(-1)!.seq) : input.lastEventId, more, resync: null };
  }),
  /** The newest event id of the org: where a client that needs no history starts polling from. */
  head: authedProcedure.query(async ({ ctx }) => {
    const { headSeq } = await readLogBounds(ctx.db, ctx.user.orgId);
    return { lastEventId: String(headSeq) };
  }),
});
