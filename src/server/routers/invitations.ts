import { TRPCError } from '@trpc/server';
import { acceptInvitationInput, type PublicUser, type Role } from '../../shared/auth.ts';
import { hashPassword } from '../auth/passwords.ts';
import { publicProcedure, router } from '../trpc.ts';
import { hashInvitationToken } from './users.ts';

export const invitationsRouter = router({
  /**
   * Joins the inviting org with the invited role and signs in. The invitation is used
   * up in the same transaction that creates the user, so a link works once.
   */
  accept: publicProcedure.input(acceptInvitationInput).mutation(async ({ ctx, input }) => {
    const tokenHash = hashInvitationToken(input.token);
    // Public: a wrong token counts as a failed sign-in of its address (and of that token), and
    // the password is hashed only for a link that is still good, so guesses cost no scrypt.
    const attempt = await ctx.limits.logins.attempt(`invitation:${tokenHash}`, ctx.connection.address);
    const pending = await ctx.db.invitation.findUnique({ where: { tokenHash }, select: { acceptedAt: true, revokedAt: true, expiresAt: true } });
    refuseUnusable(pending);
    await attempt.succeeded();
    const passwordHash = await hashPassword(input.password);
    const { user, session } = await ctx.db.$transaction(async (tx) => {
      const invitation = await tx.invitation.findUnique({ where: { tokenHash }, include: { org: { select: { name: true } } } });
      refuseUnusable(invitation);
      // Used up only if still unused: of two accepts at once, one creates the user.
      const { count } = await tx.invitation.updateMany({ where: { id: invitation.id, acceptedAt: null }, data: { acceptedAt: new Date() } });
      if (count === 0) throw new TRPCError({ code: 'CONFLICT', message: 'This invitation was already used; sign in instead' });
      if (await tx.user.findUnique({ where: { email: invitation.email }, select: { id: true } })) {
        throw new TRPCError({ code: 'CONFLICT', message: `${invitation.email} already has an account; sign in instead` });
      }
      const row = await tx.user.create({
        data: { orgId: invitation.orgId, email: invitation.email, name: input.name, role: invitation.role, passwordHash },
      });
      const user: PublicUser = { id: row.id, orgId: row.orgId, orgName: invitation.org.name, email: row.email, name: row.name, role: row.role as Role };
      return { user, session: await ctx.sessions.create(user, tx) };
    });
    const { token, expiresAt } = await ctx.sessions.sign(user, session);
    return { token, expiresAt: new Date(expiresAt).toISOString(), user };
  }),
});

/** Unknown or revoked: NOT_FOUND; used: CONFLICT; expired: BAD_REQUEST. */
function refuseUnusable<T extends { acceptedAt: Date | null; revokedAt: Date | null; expiresAt: Date }>(invitation: T | null): asserts invitation is T {
  if (!invitation || invitation.revokedAt) throw new TRPCError({ code: 'NOT_FOUND', message: 'This invitation link is not valid' });
  if (invitation.acceptedAt) throw new TRPCError({ code: 'CONFLICT', message: 'This invitation was already used; sign in instead' });
  if (invitation.expiresAt.getTime() <= Date.now()) throw new TRPCError({ code: 'BAD_REQUEST', message: 'This invitation has expired; ask for a new one' });
}
