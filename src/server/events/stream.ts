import { TRPCError, tracked, type TrackedEnvelope } from '@trpc/server';
import type { LogEvent, LogModule, ResyncSignal, StreamItem } from '../../shared/events.ts';
import { BusOverflow, type BusSubscription, type EventBus } from '../bus/types.ts';
import type { Db } from '../db/client.ts';
import type { Metrics } from '../metrics.ts';
import type { Backpressure } from './backpressure.ts';
import { encodeTrackedFrame, type SubscriptionTarget } from '../ws-encoder.ts';
import { readEventsAfter, readLogBounds, resyncReason } from './log.ts';

export interface EventFilter {
  /** Absent: every event of the org, records and communications. */
  modules?: readonly LogModule[];
  recordId?: string;
  /** A further condition, checked in memory after the indexed filters. */
  predicate?: (event: LogEvent) => boolean;
}

export interface StreamEventsOptions {
  db: Db;
  bus: EventBus;
  orgId: string;
  filter: EventFilter;
  /** Resume after this event id; absent: only what happens from now on. */
  lastEventId?: string | null;
  signal: AbortSignal | undefined;
  /** The subscriber's session: the stream ends with UNAUTHORIZED once it expires (a refresh moves `expiresAt`). */
  session?: { expiresAt: number };
  metrics?: Metrics;
  /** The connection's outbound buffer: see backpressure.ts. */
  backpressure?: Backpressure;
  /**
   * Over a WebSocket: once caught up, live events are written straight to the socket
   * as this subscription's frames (the bytes tRPC would send), instead of going one
   * by one through the generator and tRPC's loop. See `deliverDirectly`.
   */
  direct?: SubscriptionTarget & { send(data: string): void };
}

/** Thrown inside the stream to park it while the connection's outbound buffer drains. */
const PAUSE_FOR_DRAIN = Symbol('pause for drain');

const REPLAY_PAGE = 500;

export function matchesFilter(filter: EventFilter, event: LogEvent): boolean {
  if (filter.modules && !filter.modules.includes(event.module)) return false;
  if (filter.recordId !== undefined && event.recordId !== filter.recordId) return false;
  return filter.predicate ? filter.predicate(event) : true;
}

/**
 * The org's events matching `filter` as `tracked(seq, event)`: first the log after
 * `lastEventId`, then live ones. It listens to the bus *before* reading the log, so
 * an event committed during the replay is buffered rather than lost, and it skips
 * every live event it already yielded from the log: no gap, no duplicate.
 */
export async function* streamEvents(options: StreamEventsOptions): AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>> {
  const { db, bus, orgId, filter, metrics, backpressure } = options;
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const expiry = watchExpiry(options.session, abort);
  /** Before each hand-off: the session is valid and the connection can take more. */
  const checkBeforeYield = () => {
    if (expiry.expired()) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'The token has expired; sign in again' });
    if (backpressure?.isBackedUp()) throw PAUSE_FOR_DRAIN;
  };
  const busFilter =
    filter.modules || filter.recordId !== undefined || filter.predicate ? (event: LogEvent) => matchesFilter(filter, event) : undefined;
  const { predicate, ...indexed } = filter;
  let lastSeq = options.lastEventId == null ? -1 : Number(options.lastEventId);
  let resync: ResyncSignal['reason'] | null = null;
  try {
    // Runs again when the subscriber fell behind (the bus detached it, or its connection
    // was backed up): the log catches it up.
    for (;;) {
      const live = bus.subscribe(orgId, { signal: abort.signal, filter: busFilter });
      let paused = false;
      try {
        if (lastSeq >= 0 || resync) {
          const bounds = await readLogBounds(db, orgId);
          resync ??= resyncReason(bounds, lastSeq);
          if (resync) {
            // Not a partial replay: tell the subscriber to refetch, then go on from the head.
            lastSeq = bounds.headSeq;
            options.metrics?.resyncs.inc({ reason: resync });
            yield tracked(String(lastSeq), resyncSignal(resync, filter, lastSeq));
            resync = null;
          }
        }
        if (lastSeq >= 0) {
          for (;;) {
            const page = await readEventsAfter(db, { orgId, afterSeq: lastSeq, ...indexed, limit: REPLAY_PAGE });
            for (const event of page) {
              checkBeforeYield();
              lastSeq = event.seq;
              if (predicate && !predicate(event)) continue;
              // Over a WebSocket the replay is written straight to it too: what came before
              // (a RESYNC, tRPC's "started") was sent before this generator was asked again.
              if (options.direct) options.direct.send(encodeTrackedFrame(options.direct, String(event.seq), event));
              else yield tracked(String(event.seq), event);
            }
            if (page.length < REPLAY_PAGE) break;
          }
        }
        const countDelivery = (event: LogEvent, path: 'direct' | 'iterator') => {
          if (!metrics) return;
          metrics.deliveredBy[path].inc();
          // Once per event (its first hand-off here), not once per subscriber.
          if (!observedLatency.has(event)) {
            observedLatency.add(event);
            metrics.deliverySeconds.observe((Date.now() - Date.parse(event.timestamp)) / 1000);
          }
        };
        for (;;) {
          // Caught up (nothing queued, and what was yielded is already on the socket): go direct.
          if (options.direct && live.queued === 0) {
            const target = options.direct;
            const outcome = await deliverDirectly(live, abort.signal, (event) => {
              if (event.seq <= lastSeq) return 'skip';
              if (expiry.expired()) return 'stop';
              if (backpressure?.isBackedUp()) return 'pause';
              target.send(encodeTrackedFrame(target, String(event.seq), event));
              lastSeq = event.seq;
              countDelivery(event, 'direct');
              return 'sent';
            });
            if (outcome === 'pause') throw PAUSE_FOR_DRAIN;
            break;
          }
          const next = await live.next();
          if (next.done) break;
          const event = next.value;
          if (event.seq <= lastSeq) continue;
          // From here on the stream has a position, so a pause can catch up from the log.
          if (lastSeq < 0) lastSeq = event.seq - 1;
          checkBeforeYield();
          lastSeq = event.seq;
          countDelivery(event, 'iterator');
          yield tracked(String(event.seq), event);
        }
        if (expiry.expired()) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'The token has expired; sign in again' });
        return;
      } catch (error) {
        if (error === PAUSE_FOR_DRAIN) paused = true;
        else if (error instanceof BusOverflow) lastSeq = Math.max(lastSeq, error.resumeAfterSeq);
        else throw error;
      } finally {
        await live.return?.();
      }
      if (paused && backpressure) {
        metrics?.slowConsumersDropped.inc({ action: 'paused' });
        if (!(await backpressure.waitForDrain(abort.signal))) {
          if (!abort.signal.aborted) {
            metrics?.slowConsumersDropped.inc({ action: 'closed' });
            backpressure.giveUp();
          }
          return;
        }
        const behind = lastSeq < 0 ? 0 : await db.event.count({ where: { orgId, seq: { gt: lastSeq }, ...eventWhere(filter) } });
        if (behind > backpressure.maxCatchUpEvents) {
          metrics?.slowConsumersDropped.inc({ action: 'resynced' });
          resync = 'slow_consumer';
        }
      }
    }
  } finally {
    expiry.stop();
    options.signal?.removeEventListener('abort', onAbort);
    abort.abort();
  }
}

type DirectOutcome = 'sent' | 'skip' | 'pause' | 'stop';

/**
 * Hands the subscription's live events to `write` as they are published, until it
 * answers 'pause' (the connection is backed up: the event was not written, the log
 * will catch up) or 'stop', or the subscription ends. Each event costs one
 * concatenation and one write per subscriber: no generator step, no tRPC loop turn,
 * no promise. Order and exactly-once hold as in the generator: the queue is empty
 * when it starts, and `write` skips what was already delivered.
 */
function deliverDirectly(live: BusSubscription, signal: AbortSignal, write: (event: LogEvent) => DirectOutcome): Promise<'pause' | 'stop'> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve('stop');
    const finish = (outcome: 'pause' | 'stop') => {
      live.divert(null);
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = () => finish('stop');
    signal.addEventListener('abort', onAbort, { once: true });
    live.divert((event) => {
      let outcome: DirectOutcome;
      try {
        outcome = write(event);
      } catch {
        outcome = 'stop';
      }
      if (outcome === 'pause' || outcome === 'stop') finish(outcome);
    });
  });
}

/** Events whose delivery latency was already observed. */
const observedLatency = new WeakSet<LogEvent>();

/** Aborts `abort` when the session expires, even while no event arrives; a refreshed session is re-checked, not ended. */
function watchExpiry(session: { expiresAt: number } | undefined, abort: AbortController) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let expired = false;
  const check = () => {
    if (!session) return;
    const left = session.expiresAt - Date.now();
    if (left <= 0) {
      expired = true;
      abort.abort();
      return;
    }
    // setTimeout holds at most about 24.8 days.
    timer = setTimeout(check, Math.min(left, 2 ** 31 - 1));
    timer.unref?.();
  };
  check();
  return {
    expired: () => expired || (session !== undefined && session.expiresAt <= Date.now()),
    stop: () => clearTimeout(timer),
  };
}

function eventWhere(filter: EventFilter) {
  return {
    ...(filter.modules ? { module: { in: [...filter.modules] } } : {}),
    ...(filter.recordId !== undefined ? { recordId: filter.recordId } : {}),
  };
}

export function resyncSignal(reason: ResyncSignal['reason'], filter: EventFilter, headSeq: number): ResyncSignal {
  return {
    type: 'RESYNC',
    reason,
    modules: filter.modules ? [...filter.modules] : null,
    recordId: filter.recordId ?? null,
    lastEventId: String(headSeq),
  };
}
