import type { TrackedEnvelope } from '@trpc/server';
import type { LogEvent, StreamItem } from '../../shared/events.ts';
import type { Context, Session } from '../context.ts';
import { coalesceUpdates } from './coalesce.ts';
import { streamEvents, type EventFilter } from './stream.ts';

/**
 * A log subscription of the caller's org, as every subscription procedure builds it:
 * scoped to the user's org, ended when their session expires, yielding to a full
 * connection, optionally coalescing bursts.
 */
export function subscribeToLog(
  ctx: Context & { session: Session; user: Session['user'] },
  filter: EventFilter,
  input: { lastEventId?: string | null | undefined; coalesceMs?: number | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>> {
  const stream = streamEvents({
    db: ctx.db,
    bus: ctx.bus,
    orgId: ctx.user.orgId,
    filter,
    lastEventId: input.lastEventId,
    session: ctx.session,
    metrics: ctx.metrics,
    backpressure: ctx.connection.backpressure,
    signal,
  });
  return input.coalesceMs ? coalesceUpdates(stream, input.coalesceMs) : stream;
}
