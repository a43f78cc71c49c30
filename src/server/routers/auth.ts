import { TRPCError } from '@trpc/server';
import { loginInput, type Role } from '../../shared/auth.ts';
import { verifyPassword } from '../auth/passwords.ts';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';

// Compared against when the email is unknown, so a wrong email and a wrong password take the same time.
const DUMMY_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export const authRouter = router({
  login: publicProcedure.input(loginInput).mutation(async ({ ctx, input }) => {
    const user = await ctx.db.user.findUnique({ where: { email: input.email }, include: { org: true } });
    const valid = await verifyPassword(input.password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !valid) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Wrong email or password' });
    const { token, expiresAt } = await ctx.tokens.sign({ userId: user.id, orgId: user.orgId });
    return {
      token,
      expiresAt: new Date(expiresAt).toISOString(),
      user: { id: user.id, orgId: user.orgId, orgName: user.org.name, email: user.email, name: user.name, role: user.role as Role },
    };
  }),
  me: authedProcedure.query(({ ctx }) => ctx.user),
});
