import type { TrackedEnvelope } from '@trpc/server';
import { alertsListInput, streamInput, type AlertEvent } from '../../shared/comms.ts';
import type { StreamItem } from '../../shared/events.ts';
import { toAlert } from '../comms/wire.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { authedProcedure, router } from '../trpc.ts';

export const alertsRouter = router({
  /** The org's alerts, newest first. */
  list: authedProcedure.input(alertsListInput).query(async ({ ctx, input }) => {
    const rows = await ctx.db.alert.findMany({ where: { orgId: ctx.user.orgId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: input.limit });
    return { items: rows.map(toAlert) };
  }),
  /** `alert:new` for the org, resumable. */
  onNew: authedProcedure.input(streamInput).subscription(({ ctx, input, signal }) => {
    return subscribeToLog(ctx, { modules: ['alerts'] }, input ?? {}, signal) as AsyncGenerator<TrackedEnvelope<StreamItem<AlertEvent>>>;
  }),
});
