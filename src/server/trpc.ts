import { initTRPC, TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { Context } from './context.ts';

/** Thrown as the cause of a CONFLICT so the error carries the record as it is now. */
export class VersionConflict extends Error {
  constructor(readonly current: unknown) {
    super('The record was changed by someone else');
  }
}

/**
 * The one tRPC instance. The error formatter adds zod's field errors (for forms) and,
 * on CONFLICT, the current record.
 * @see https://trpc.io/docs/server/error-formatting
 */
const t = initTRPC.context<Context>().create({
  // Stack traces stay on the server unless explicitly developing.
  isDev: process.env.NODE_ENV === 'development',
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const isInputError = error.code === 'BAD_REQUEST' && cause instanceof z.ZodError;
    return {
      ...shape,
      // zod's default message is its issue list as JSON; say it as a person would read it.
      message: isInputError ? describeIssues(cause) : shape.message,
      data: {
        ...shape.data,
        zodError: isInputError ? z.flattenError(cause) : null,
        current: cause instanceof VersionConflict ? cause.current : undefined,
      },
    };
  },
});

function describeIssues(error: z.ZodError): string {
  const lines = error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
  return `Invalid input: ${lines.join('; ')}`;
}

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;

/** Every procedure but login: a user whose token has not expired (checked per call, not only per connection). */
export const authedProcedure = t.procedure.use(({ ctx, next }) => {
  const session = ctx.session;
  if (!session) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
  if (session.expiresAt <= Date.now()) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'The token has expired' });
  return next({ ctx: { ...ctx, session, user: session.user } });
});
