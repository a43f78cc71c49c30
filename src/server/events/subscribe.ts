import type { TrackedEnvelope } from '@trpc/server';
import type { LogEvent, StreamItem } from '../../shared/events.ts';
import type { Context, Session } from '../context.ts';
import { coalesceUpdates } from './coalesce.ts';
import { offeringDelivery } from './delivery.ts';
import { streamEvents, type EventFilter, type StreamEventsOptions } from './stream.ts';

type LogContext = Context & { session: Session; user: Session['user'] };

/**
 * A log subscription of the caller's org, as every subscription procedure builds it:
 * scoped to the user's org, ended when their session expires, optionally coalescing
 * bursts. It offers the transport a delivery port (delivery.ts): a procedure that
 * returns it as it is lets the transport park it on a full connection and, where the
 * transport can, let it write its live events itself.
 */
export function subscribeToLog(
  ctx: LogContext,
  filter: EventFilter,
  input: { lastEventId?: string | null | undefined; coalesceMs?: number | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>> {
  const options: StreamEventsOptions = {
    db: ctx.db,
    bus: ctx.bus,
    orgId: ctx.user.orgId,
    filter,
    lastEventId: input.lastEventId,
    session: ctx.session,
    metrics: ctx.metrics,
    replays: ctx.replays,
    maxCatchUpEvents: ctx.backpressure.maxCatchUpEvents,
    signal,
  };
  const stream = streamEvents(options);
  // Coalescing holds events back, so its stream does not write its own frames.
  const coalesceMs = input.coalesceMs;
  if (coalesceMs) return offeringDelivery(coalesceUpdates(stream, coalesceMs), (port) => (options.port = { flow: port.flow }));
  return offeringDelivery(stream, (port) => (options.port = port));
}
