import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { changePasswordInput, loginInput, logoutInput, type PublicUser, type Role } from '../../shared/auth.ts';
import { withIdempotencyKey } from '../../shared/mutations.ts';
import { hashPassword, verifyPassword } from '../auth/passwords.ts';
import { RateLimited } from '../errors.ts';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';

// Compared against when the email is unknown, so a wrong email and a wrong password take the same time.
const DUMMY_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export const authRouter = router({
  /** Signs in: a new server-side session (auth/sessions.ts) and a token naming it. */
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
    // Said only to whoever knows the password.
    if (user.deactivatedAt) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'This account is deactivated; ask an admin of your org' });
    const session = await ctx.sessions.create(user);
    const { token, expiresAt } = await ctx.sessions.sign(user, session);
    const publicUser: PublicUser = { id: user.id, orgId: user.orgId, orgName: user.org.name, email: user.email, name: user.name, role: user.role as Role };
    return { token, expiresAt: new Date(expiresAt).toISOString(), user: publicUser };
  }),
  me: authedProcedure.query(({ ctx }) => ctx.user),
  /**
   * A fresh token for the caller's session, never valid past the session's absolute
   * lifetime; refused once the session was revoked or its user deactivated. Over a
   * WebSocket it also extends the connection's session, so its subscriptions keep
   * running past the old token's expiry.
   */
  refresh: authedProcedure.input(z.strictObject({ ...withIdempotencyKey }).optional()).mutation(async ({ ctx }) => {
    const { token, expiresAt } = await ctx.sessions.refresh(ctx.session);
    // Ended while the row was read: not revived.
    if (ctx.session.endedBy) throw new TRPCError({ code: 'UNAUTHORIZED', message: ctx.session.endedBy });
    ctx.session.expiresAt = expiresAt;
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  }),
  /** Presents a token obtained elsewhere (e.g. a new sign-in) on this connection; it must be the same user's, and its session valid. */
  useToken: authedProcedure.input(z.strictObject({ token: z.string().min(1).max(4096), ...withIdempotencyKey })).mutation(async ({ ctx, input }) => {
    const next = await ctx.sessions.resolve(input.token);
    if (!next || next.user.id !== ctx.user.id) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Not a valid token of this user' });
    if (ctx.session.endedBy) throw new TRPCError({ code: 'UNAUTHORIZED', message: ctx.session.endedBy });
    if (next.id === ctx.session.id) ctx.session.expiresAt = Math.max(ctx.session.expiresAt, next.expiresAt);
    else {
      // Another sign-in of the same user: the connection now lives by that session.
      ctx.sessions.retrack(ctx.session, next.id);
      ctx.session.expiresAt = next.expiresAt;
    }
    return { expiresAt: new Date(ctx.session.expiresAt).toISOString() };
  }),
  /** Ends the caller's session on every node: its tokens are refused from now on, its subscriptions end. */
  logout: authedProcedure.input(logoutInput).mutation(async ({ ctx }) => {
    await ctx.sessions.revoke(ctx.session.id, ctx.user.id);
    return { ok: true as const };
  }),
  /** Changes the caller's password and signs out their other sessions; this one stays. */
  changePassword: authedProcedure.input(changePasswordInput).mutation(async ({ ctx, input }) => {
    const userId = ctx.user.id;
    // Counted before the hash is checked, atomically: a batch of guesses cannot all run scrypt.
    const attempt = await ctx.limits.passwordChanges.attempt(userId, ctx.connection.address);
    const row = await ctx.db.user.findUnique({ where: { id: userId }, select: { passwordHash: true } });
    if (!row) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'This account was deactivated or removed' });
    if (!(await verifyPassword(input.currentPassword, row.passwordHash))) {
      ctx.metrics.authFailures.inc({ door: 'password' });
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'The current password is wrong' });
    }
    await attempt.succeeded();
    const passwordHash = await hashPassword(input.newPassword);
    const revoked = await ctx.db.$transaction(async (tx) => {
      await tx.user.update({ where: { id: userId }, data: { passwordHash } });
      return ctx.sessions.revokeUserSessions(tx, userId, ctx.session.id);
    });
    ctx.sessions.userChanged(userId);
    return { ok: true as const, signedOutSessions: revoked.count };
  }),
});
