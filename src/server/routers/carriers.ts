import { connectCarrierInput, disconnectCarrierInput } from '../../shared/carriers.ts';
import { idempotencyOf } from '../events/idempotency.ts';
import { adminProcedure, router } from '../trpc.ts';

/** Carrier accounts hold secrets and decide where the org's messages go: admins only. */
const carrierAdminProcedure = adminProcedure('connect or see its carriers');

export const carriersRouter = router({
  /** The org's connected carriers; never their secrets. */
  list: carrierAdminProcedure.query(({ ctx }) => ctx.carriers.list(ctx.user.orgId)),
  /** Connects an account for its channels (replacing the org's carrier on them); the secret is sealed before it is stored. */
  connect: carrierAdminProcedure.input(connectCarrierInput).mutation(async ({ ctx, input }) => {
    const { idempotencyKey, ...account } = input;
    // A retry (the client link resends with the same key) answers the first connect, not a second carrier.
    const idempotency = idempotencyOf({ user: ctx.user, idempotencyKey }, ['carriers', 'connect'], account);
    const earlier = idempotency && (await ctx.carriers.earlierConnect(idempotency));
    if (earlier) return earlier;
    await ctx.carriers.verify(account);
    return ctx.carriers.connect(ctx.user, account, idempotency);
  }),
  /** Messages still queued for it are sent with it; new ones are only recorded until another is connected. */
  disconnect: carrierAdminProcedure.input(disconnectCarrierInput).mutation(async ({ ctx, input }) => {
    await ctx.carriers.disconnect(ctx.user.orgId, input.id);
    return { id: input.id, disconnected: true };
  }),
});
