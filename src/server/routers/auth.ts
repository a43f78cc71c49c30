import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { loginInput, type Role } from '../../shared/auth.ts';
import { withIdempotencyKey } from '../../shared/mutations.ts';
import { verifyPassword } from '../auth/passwords.ts';
import { RateLimited } from '../limits.ts';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';

// Compared against when the email is unknown, so a wrong email and a wrong password take the same time.
const DUMMY_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export const authRouter = router({
  login: publicProcedure.input(loginInput).mutation(async ({ ctx, input }) => {
    // Counted before anything is read or hashed: see limits/logins.ts.
    const attempt = await ctx.limits.logins.attempt(input.email, ctx.connection.address).catch((error: unknown) => {
      const limit = error instanceof TRPCError && error.cause instanceof RateLimited ? error.cause.limit : 'logins';
      ctx.metrics.rateLimited.inc({ limit });
      ctx.logger.warn('sign-in refused: too many failures', { limit, remote: ctx.connection.address });
      throw error;
    });
    const user = await ctx.db.user.findUnique({ where: { email: input.email }, include: { org: true } });
    const valid = await verifyPassword(input.password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !valid) {
      ctx.metrics.authFailures.inc({ door: 'login' });
      throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Wrong email or password' });
    }
    await attempt.succeeded();
    const { token, expiresAt } = await ctx.tokens.sign({ userId: user.id, orgId: user.orgId });
    return {
      token,
      expiresAt: new Date(expiresAt).toISOString(),
      user: { id: user.id, orgId: user.orgId, orgName: user.org.name, email: user.email, name: user.name, role: user.role as Role },
    };
  }),
  me: authedProcedure.query(({ ctx }) => ctx.user),
  /**
   * A fresh token for the caller. Over a WebSocket it also extends the connection's
   * session, so its subscriptions keep running past the old token's expiry.
   */
  refresh: authedProcedure.input(z.strictObject({ ...withIdempotencyKey }).optional()).mutation(async ({ ctx }) => {
    const { token, expiresAt } = await ctx.tokens.sign({ userId: ctx.user.id, orgId: ctx.user.orgId });
    ctx.session.expiresAt = expiresAt;
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  }),
  /** Presents a token obtained elsewhere (e.g. a new sign-in) on this connection; it must be the same user's. */
  useToken: authedProcedure.input(z.strictObject({ token: z.string().min(1).max(4096), ...withIdempotencyKey })).mutation(async ({ ctx, input }) => {
    const claims = await ctx.tokens.verify(input.token);
    if (!claims || claims.userId !== ctx.user.id) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Not a valid token of this user' });
    ctx.session.expiresAt = Math.max(ctx.session.expiresAt, claims.expiresAt);
    return { expiresAt: new Date(ctx.session.expiresAt).toISOString() };
  }),
});
