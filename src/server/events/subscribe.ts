import type { TrackedEnvelope } from '@trpc/server';
import type { LogEvent, StreamItem } from '../../shared/events.ts';
import type { Context, Session } from '../context.ts';
import { authedProcedure } from '../trpc.ts';
import type { SubscriptionTarget } from '../transport/ws-encoder.ts';
import type { SubscriptionRequest } from '../transport/ws-handler.ts';
import { coalesceUpdates } from './coalesce.ts';
import { streamEvents, type EventFilter } from './stream.ts';

/**
 * ws-handler's `subscriptionContext`: where live events may be written straight to the
 * socket, a subscription's context carries its own request, which its frames answer.
 */
export function withSubscriptionRequest(ctx: Context, request: SubscriptionRequest): Context {
  if (!ctx.connection.socket) return ctx;
  return Object.assign({}, ctx, { subscriptionRequest: { id: request.id, jsonrpc: request.jsonrpc, prefixBytes: undefined } });
}

/**
 * For procedures that return `subscribeToLog(…)` as it is: over a WebSocket, the
 * stream then writes live events straight to the socket, addressed to its request.
 * (A procedure that consumes the stream itself must use `authedProcedure`: the
 * events would bypass it.)
 */
export const logSubscriptionProcedure = authedProcedure.use(({ ctx, next }) => next({ ctx: { subscriptionTarget: ctx.subscriptionRequest } }));

type LogContext = Context & { session: Session; user: Session['user']; subscriptionTarget?: SubscriptionTarget | undefined };

/**
 * A log subscription of the caller's org, as every subscription procedure builds it:
 * scoped to the user's org, ended when their session expires, yielding to a full
 * connection, optionally coalescing bursts.
 */
export function subscribeToLog(
  ctx: LogContext,
  filter: EventFilter,
  input: { lastEventId?: string | null | undefined; coalesceMs?: number | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>> {
  const socket = ctx.connection.socket;
  const stream = streamEvents({
    db: ctx.db,
    bus: ctx.bus,
    orgId: ctx.user.orgId,
    filter,
    lastEventId: input.lastEventId,
    session: ctx.session,
    metrics: ctx.metrics,
    replays: ctx.replays,
    backpressure: ctx.connection.backpressure,
    signal,
    // Coalescing holds events back, so it stays on the generator path.
    direct: socket && ctx.subscriptionTarget && !input.coalesceMs ? { target: ctx.subscriptionTarget, socket } : undefined,
  });
  return input.coalesceMs ? coalesceUpdates(stream, input.coalesceMs) : stream;
}
