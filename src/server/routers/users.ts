import type { Role } from '../../shared/auth.ts';
import { authedProcedure, router } from '../trpc.ts';

export const usersRouter = router({
  /** The people of the caller's org, to name assignees, viewers and authors of changes. */
  list: authedProcedure.query(async ({ ctx }) => {
    const users = await ctx.db.user.findMany({
      where: { orgId: ctx.user.orgId },
      select: { id: true, name: true, email: true, role: true },
      orderBy: { name: 'asc' },
    });
    return users.map((user) => ({ ...user, role: user.role as Role }));
  }),
});
