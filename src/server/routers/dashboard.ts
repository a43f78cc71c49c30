import { z } from 'zod';
import { countersInput, type DashboardCounters } from '../../shared/dashboard.ts';
import { idSchema, plain } from '../../shared/text.ts';
import { computeCounters } from '../dashboard/counters.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { authedProcedure, router } from '../trpc.ts';

/** Counters move at most this often, however busy the org is. */
const MIN_INTERVAL_MS = 250;
const onCountersInput = z.strictObject({ lastEventId: plain().max(32).nullish(), teamId: idSchema.optional() }).optional();

export const dashboardRouter = router({
  counters: authedProcedure
    .input(countersInput)
    .query(({ ctx, input }) => computeCounters(ctx.db, ctx.user.orgId, { weeklyCapacityHours: ctx.weeklyCapacityHours, teamId: input?.teamId })),
  /**
   * The counters now, then again whenever a change of the org may move them, at most
   * a few times per second (a burst of changes is one recomputation).
   */
  onCounters: authedProcedure.input(onCountersInput).subscription(async function* ({ ctx, input, signal }) {
    const changes = subscribeToLog(ctx, { modules: ['jobs', 'appointments', 'leads', 'conversations', 'calls', 'teams'] }, {}, signal);
    const compute = () => computeCounters(ctx.db, ctx.user.orgId, { weeklyCapacityHours: ctx.weeklyCapacityHours, teamId: input?.teamId });
    let last: string | undefined;
    let next = changes.next(undefined);
    try {
      for (;;) {
        const counters = await compute();
        const { asOf: _asOf, ...figures } = counters;
        const key = JSON.stringify(figures);
        if (key !== last) {
          last = key;
          yield counters as DashboardCounters;
        }
        if ((await next).done) return;
        // Let the rest of a burst arrive, take everything already pending, then recompute once.
        await new Promise((resolve) => setTimeout(resolve, MIN_INTERVAL_MS));
        for (;;) {
          next = changes.next(undefined);
          const pending = await Promise.race([next, new Promise<'none'>((resolve) => setImmediate(() => resolve('none')))]);
          if (pending === 'none') break;
          if (pending.done) return;
        }
      }
    } finally {
      await changes.return(undefined);
    }
  }),
});
