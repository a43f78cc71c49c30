import { initTRPC, TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { Context } from './context.ts';
import { errorIdOf, RateLimited, tooManyRequests, VersionConflict } from './errors.ts';
import { queryCost } from './limits.ts';
import { acceptDelivery, offerDelivery, type DeliveryPort } from './events/delivery.ts';

const isDev = process.env.NODE_ENV === 'development';

/**
 * The one tRPC instance. The error formatter adds zod's field errors (for forms) and,
 * on CONFLICT, the current record. An internal error is answered with an id only: its
 * message can hold SQL, file paths and source lines (Prisma's do); the server log has it
 * all under the same id (`onError` in app.ts).
 * @see https://trpc.io/docs/server/error-formatting
 */
const t = initTRPC.context<Context>().create({
  // Stack traces and internal messages stay on the server unless explicitly developing.
  isDev,
  // Subscriptions go over the WebSocket only, where the caps on connections and subscriptions apply (context.ts refuses them over HTTP first).
  sse: { enabled: false },
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const isInputError = error.code === 'BAD_REQUEST' && cause instanceof z.ZodError;
    const isInternal = error.code === 'INTERNAL_SERVER_ERROR' && !isDev;
    return {
      ...shape,
      // zod's default message is its issue list as JSON; say it as a person would read it.
      message: isInputError ? describeIssues(cause) : isInternal ? `Internal error (id ${errorIdOf(error)})` : shape.message,
      data: {
        ...shape.data,
        zodError: isInputError ? z.flattenError(cause) : null,
        current: cause instanceof VersionConflict ? cause.current : undefined,
        conflicts: cause instanceof VersionConflict ? cause.conflicts : undefined,
        retryAfterMs: cause instanceof RateLimited ? cause.retryAfterMs : undefined,
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

/** Every procedure but login: a user whose token has not expired nor its session ended (checked per call, not only per connection). */
export const authedProcedure = t.procedure.use(async ({ ctx, next, type, getRawInput }) => {
  const session = ctx.session;
  if (!session) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
  // A session ended early (revoked, user deactivated or removed: auth/sessions.ts) has `expiresAt` 0 and says why.
  if (session.expiresAt <= Date.now()) throw new TRPCError({ code: 'UNAUTHORIZED', message: session.endedBy ?? 'The token has expired' });
  const user = session.user;
  const authed = { ...ctx, session, user };
  const cost = type === 'query' ? queryCost(await getRawInput()) : 0;
  try {
    if (type === 'query') ctx.limits.checkQuery(ctx.connection.id, user.id, cost);
    else if (type === 'mutation') await ctx.limits.checkMutation(ctx.connection.id, user.id);
    else if (ctx.connection.subscriptions >= ctx.limits.config.maxSubscriptionsPerConnection) {
      throw tooManyRequests('subscriptions per connection', 1_000);
    }
  } catch (error) {
    const limit = error instanceof TRPCError && error.cause instanceof RateLimited ? error.cause.limit : 'unknown';
    ctx.metrics.rateLimited.inc({ limit });
    ctx.logger.warn('rate limited', { limit });
    throw error;
  }
  if (type === 'query') return next({ ctx: authed });
  if (type === 'subscription') {
    ctx.connection.subscriptions += 1;
    const result = await next({ ctx: authed });
    if (!result.ok) {
      ctx.connection.subscriptions -= 1;
      return result;
    }
    return { ...result, data: releaseWhenDone(result.data as AsyncIterable<unknown>, ctx.connection) };
  }
  const started = performance.now();
  const done = ctx.inflight.begin();
  try {
    const result = await next({ ctx: authed });
    ctx.metrics.mutationSeconds.observe({ outcome: result.ok ? 'ok' : 'error' }, (performance.now() - started) / 1000);
    return result;
  } finally {
    done();
  }
});

/** A procedure for the org's admins; `what` completes "Only an admin of the org can …" in the refusal. */
export function adminProcedure(what: string) {
  return authedProcedure.use(({ ctx, next }) => {
    if (ctx.user.role !== 'admin') throw new TRPCError({ code: 'FORBIDDEN', message: `Only an admin of the org can ${what}` });
    return next();
  });
}

/**
 * Gives the connection's subscription slot back when the stream ends, however it ends
 * (done, error, or stopped by the client). A class rather than an async generator
 * around the stream: one is held per live subscription, and a generator's frame and
 * promises cost about 0.4 KB more.
 */
function releaseWhenDone<T>(stream: AsyncIterable<T>, connection: { subscriptions: number }): AsyncIterableIterator<T> {
  return new SlotReleasingIterator(stream[Symbol.asyncIterator](), connection);
}

class SlotReleasingIterator<T> implements AsyncIterableIterator<T> {
  #released = false;

  constructor(
    private readonly inner: AsyncIterator<T>,
    private readonly connection: { subscriptions: number },
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The transport's port goes to the stream inside (events/delivery.ts). */
  [acceptDelivery](port: DeliveryPort): void {
    offerDelivery(this.inner, port);
  }

  async next(): Promise<IteratorResult<T>> {
    try {
      const result = await this.inner.next();
      if (result.done) this.#release();
      return result;
    } catch (error) {
      this.#release();
      throw error;
    }
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    this.#release();
    return this.inner.return ? this.inner.return(value) : { done: true, value: value as T };
  }

  async throw(error?: unknown): Promise<IteratorResult<T>> {
    this.#release();
    if (this.inner.throw) return this.inner.throw(error);
    throw error;
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.connection.subscriptions -= 1;
  }
}
