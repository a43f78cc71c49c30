import type { TrackedEnvelope } from '@trpc/server';
import { answerCallInput, callsListInput, streamInput, type CallEvent } from '../../shared/comms.ts';
import type { StreamItem } from '../../shared/events.ts';
import { answerCall } from '../comms/calls.ts';
import { toCall } from '../comms/wire.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { authedProcedure, router } from '../trpc.ts';

export const callsRouter = router({
  /** Newest first. */
  list: authedProcedure.input(callsListInput).query(async ({ ctx, input }) => {
    const rows = await ctx.db.call.findMany({
      where: { orgId: ctx.user.orgId, ...(input.status ? { status: input.status } : {}) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: input.limit,
    });
    return { items: rows.map(toCall) };
  }),
  /** Takes a ringing call; CONFLICT once someone else answered or it was missed. */
  answer: authedProcedure.input(answerCallInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...target } = input;
    return answerCall({ deps: ctx, user: ctx.user, idempotencyKey }, target);
  }),
  /** `call.incoming`, `call.answered`, `call.missed` for the org, resumable. */
  onChange: authedProcedure.input(streamInput).subscription(({ ctx, input, signal }) => {
    return subscribeToLog(ctx, { modules: ['calls'] }, input ?? {}, signal) as AsyncGenerator<TrackedEnvelope<StreamItem<CallEvent>>>;
  }),
});
