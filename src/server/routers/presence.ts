import { TRPCError, tracked } from '@trpc/server';
import type { PresenceEntry, RecordActivity } from '../../shared/presence.ts';
import { heartbeatInput, onRecordInput, presenceOnChangeInput, recordRefInput, typingInput } from '../../shared/presence.ts';
import type { Context, Session } from '../context.ts';
import { watchExpiry } from '../events/expiry.ts';
import { requireRecordOfOrg } from '../presence/records.ts';
import { authedProcedure, router } from '../trpc.ts';

/** Presence messages come from clients all the time: a per-connection budget on top of the mutation limits. */
const realtimeProcedure = authedProcedure.use(({ ctx, next }) => {
  try {
    ctx.limits.checkRealtimeMessage(ctx.connection.id);
  } catch (error) {
    ctx.metrics.rateLimited.inc({ limit: 'realtime messages per connection' });
    throw error;
  }
  return next();
});

let trackedId = 0;
const nextId = () => String(++trackedId);

/**
 * Listens first, then yields the current state, then every change: nothing falls in
 * between. Ends with UNAUTHORIZED when the session expires or is ended (auth/sessions.ts).
 */
async function* stateThenChanges<T>(ctx: Pick<Context, 'presence'> & { session: Session }, topic: string, current: () => T[], signal: AbortSignal | undefined) {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const changes = ctx.presence.topics.subscribe(topic, { signal: abort.signal });
  const expiry = watchExpiry(ctx.session, () => abort.abort());
  const ended = () => new TRPCError({ code: 'UNAUTHORIZED', message: ctx.session.endedBy ?? 'The token has expired; sign in again' });
  try {
    if (expiry.expired()) throw ended();
    for (const item of current()) yield tracked(nextId(), item);
    for await (const item of changes) {
      if (expiry.expired()) break;
      yield tracked(nextId(), item as T);
    }
    if (expiry.expired()) throw ended();
  } finally {
    expiry.stop();
    signal?.removeEventListener('abort', onAbort);
    abort.abort();
    await changes.return?.();
  }
}

const isHttp = (ctx: Context) => ctx.connection.id.startsWith('http-');

export const presenceRouter = router({
  /** Reports activity (`active: false` only keeps the connection alive); over HTTP it also keeps an HTTP-only client present. */
  heartbeat: authedProcedure.input(heartbeatInput).mutation(({ ctx, input }) => {
    return ctx.presence.heartbeat(ctx.connection.id, ctx.user, input.active, { viaHttp: isHttp(ctx) });
  }),
  list: authedProcedure.query(({ ctx }) => ctx.presence.list(ctx.user.orgId)),
  /** The org's presence: the current entries first, then every change `{ userId, name, status, since }`. */
  onChange: authedProcedure.input(presenceOnChangeInput).subscription(({ ctx, signal }) => {
    return stateThenChanges<PresenceEntry>(ctx, ctx.presence.orgTopic(ctx.user.orgId), () => ctx.presence.list(ctx.user.orgId), signal);
  }),
  view: realtimeProcedure.input(recordRefInput).mutation(async ({ ctx, input }) => {
    await requireRecordOfOrg(ctx, input.module, input.recordId);
    return { viewers: ctx.presence.view(ctx.connection.id, ctx.user, input.module, input.recordId) };
  }),
  /** Leaves even when the answer is NOT_FOUND: a record deleted meanwhile must not keep its viewer. */
  leave: realtimeProcedure.input(recordRefInput).mutation(async ({ ctx, input }) => {
    const viewers = ctx.presence.leave(ctx.connection.id, ctx.user, input.module, input.recordId);
    await requireRecordOfOrg(ctx, input.module, input.recordId);
    return { viewers };
  }),
  /** Who views the record (on start and on every change) and who types in which field. */
  onRecord: authedProcedure.input(onRecordInput).subscription(async ({ ctx, input, signal }) => {
    await requireRecordOfOrg(ctx, input.module, input.recordId);
    const key = ctx.presence.recordKey(ctx.user.orgId, input.module, input.recordId);
    return stateThenChanges<RecordActivity>(
      ctx,
      ctx.presence.recordTopic(key),
      () => [{ type: 'viewers', module: input.module, recordId: input.recordId, viewers: ctx.presence.viewers(key) }, ...ctx.presence.typers(key, input.module, input.recordId)],
      signal,
    );
  }),
});

export const typingRouter = router({
  start: realtimeProcedure.input(typingInput).mutation(async ({ ctx, input }) => {
    await requireRecordOfOrg(ctx, input.module, input.recordId);
    ctx.presence.startTyping(ctx.connection.id, ctx.user, input.module, input.recordId, input.field ?? null);
    return { ok: true as const };
  }),
  /** Stops even when the answer is NOT_FOUND, as `leave`. */
  stop: realtimeProcedure.input(typingInput).mutation(async ({ ctx, input }) => {
    ctx.presence.stopTyping(ctx.connection.id, ctx.user, input.module, input.recordId, input.field ?? null);
    await requireRecordOfOrg(ctx, input.module, input.recordId);
    return { ok: true as const };
  }),
});
