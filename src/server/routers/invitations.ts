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
    const passwordHash = await hashPassword(input.password);
    const { user, session } = await ctx.db.$transaction(async (tx) => {
      const invitation = await tx.invitation.findUnique({ where: { tokenHash }, include: { org: { select: { name: true } } } });
      if (!invitation || invitation.revokedAt) throw new TRPCError({ code: 'NOT_FOUND', message: 'This invitation link is not valid' });
      if (invitation.acceptedAt) throw new TRPCError({ code: 'CONFLICT', message: 'This invitation was already used; sign in instead' });
      if (invitation.expiresAt.getTime() <= Date.now()) throw new TRPCError({ code: 'BAD_REQUEST', message: 'This invitation has expired; ask for a new one' });
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
