import { TRPCError, tracked, type TrackedEnvelope } from '@trpc/server';
import type { LogEvent, LogModule, ResyncSignal, StreamItem } from '../../shared/events.ts';
import { BusOverflow, type BusSubscription, type EventBus } from '../bus/types.ts';
import type { Db } from '../db/client.ts';
import type { Metrics } from '../metrics.ts';
import type { DeliveryFlow, DeliveryPort } from './delivery.ts';
import { watchExpiry, type ExpiryWatch } from './expiry.ts';
import { readEventsAfter, readLogBounds, resyncReason } from './log.ts';
import type { ReplayCache } from './replay-cache.ts';

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
  session?: { expiresAt: number; endedBy?: string | null };
  metrics?: Metrics;
  /** What resumes of the same org share instead of each reading the log; absent: each reads it. */
  replays?: ReplayCache | undefined;
  /**
   * What the transport told the stream of its connection (delivery.ts), read when the
   * stream starts: with `flow`, it parks while the connection is backed up and catches
   * up from the log once drained; with `send`, once caught up, live events are written
   * as this subscription's frames instead of going one by one through the generator and
   * the transport's loop (`BusSubscription.deliver`).
   */
  port?: DeliveryPort | undefined;
  /** Events behind beyond which a parked subscriber, once drained, gets a RESYNC rather than a replay. @default 10000 */
  maxCatchUpEvents?: number | undefined;
}

/** Thrown inside the stream to park it while the connection's outbound buffer drains. */
const PAUSE_FOR_DRAIN = Symbol('pause for drain');

const REPLAY_PAGE = 500;
const DEFAULT_MAX_CATCH_UP_EVENTS = 10_000;

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
 *
 * An idle subscription stays parked in its bus subscription for as long as its
 * client is connected, so what it holds is kept small: no AbortController of its own
 * (the bus subscription listens to tRPC's `signal`, an expiring session ends it
 * directly) and no timer of its own (see expiry.ts).
 */
export async function* streamEvents(options: StreamEventsOptions): AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>> {
  const { db, bus, orgId, filter, metrics, signal } = options;
  const port = options.port;
  const flow = port?.flow;
  /** The stream writes its own frames. */
  const sends = port?.send !== undefined;
  /** The bus subscription of the current pass: what an expiring session ends, waking the stream wherever it waits. */
  let live: BusSubscription | undefined;
  const { session } = options;
  /** While parked: ends the wait for the connection to drain (the session expired, or the subscription was stopped). */
  let wake: (() => void) | undefined;
  const expiry = session
    ? watchExpiry(session, () => {
        live?.end();
        wake?.();
      })
    : undefined;
  const busFilter = filter.modules || filter.recordId !== undefined || filter.predicate ? (event: LogEvent) => matchesFilter(filter, event) : undefined;
  const { predicate: _predicate, ...indexed } = filter;
  let lastSeq = options.lastEventId == null ? -1 : Number(options.lastEventId);
  let resync: ResyncSignal['reason'] | null = null;
  try {
    // Runs again when the subscriber fell behind (the bus detached it, or its connection
    // was backed up): the log catches it up.
    for (;;) {
      live = bus.subscribe(orgId, { signal, filter: busFilter });
      let paused = false;
      try {
        // Expired while parked (draining): this pass's subscription was not there to end.
        if (expiry?.expired()) throw sessionExpired(session);
        let headSeq = -1;
        if (lastSeq >= 0 || resync) {
          const bounds = await readLogBounds(db, orgId);
          headSeq = bounds.headSeq;
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
            // A stream of the org shares what other resumes of it read (replay-cache.ts); a
            // record's own stream reads just its events through the index.
            const page =
              options.replays && indexed.recordId === undefined
                ? await options.replays.read(orgId, lastSeq, headSeq, REPLAY_PAGE)
                : await readEventsAfter(db, { orgId, afterSeq: lastSeq, ...indexed, limit: REPLAY_PAGE });
            for (const event of page) {
              checkBeforeYield(expiry, flow, session);
              lastSeq = event.seq;
              if (!matchesFilter(filter, event)) continue;
              // Where the stream writes its own frames the replay goes that way too: what came
              // before (a RESYNC, the transport's "started") went out before this step was asked for.
              if (sends) port!.send!(String(event.seq), event);
              else yield tracked(String(event.seq), event);
            }
            if (page.length < REPLAY_PAGE) break;
          }
        }
        for (;;) {
          // Caught up (nothing queued, and what was yielded is already on the socket): go direct.
          if (sends && live.queued === 0) {
            // Each event costs one concatenation and one write per subscriber: no generator
            // step, no tRPC loop turn, no promise. Order and exactly-once hold as in the
            // generator: the queue is empty here, and what was already delivered is skipped.
            const outcome = await live.deliver((event) => {
              if (event.seq <= lastSeq) return 'skip';
              if (expiry?.expired()) return 'stop';
              if (flow?.isBackedUp()) return 'pause';
              port!.send!(String(event.seq), event);
              lastSeq = event.seq;
              countDelivery(metrics, event, 'direct');
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
          checkBeforeYield(expiry, flow, session);
          lastSeq = event.seq;
          countDelivery(metrics, event, 'iterator');
          yield tracked(String(event.seq), event);
        }
        if (expiry?.expired()) throw sessionExpired(session);
        return;
      } catch (error) {
        if (error === PAUSE_FOR_DRAIN) paused = true;
        else if (error instanceof BusOverflow) lastSeq = Math.max(lastSeq, error.resumeAfterSeq);
        else throw error;
      } finally {
        await live.return();
      }
      if (paused && flow) {
        metrics?.slowConsumersDropped.inc({ action: 'paused' });
        // The transport closes a connection that does not drain in time; a stop or an expiry ends the wait sooner.
        const drained = await new Promise<boolean>((resolve) => {
          wake = () => resolve(false);
          signal?.addEventListener('abort', wake, { once: true });
          if (signal?.aborted || expiry?.expired()) resolve(false);
          flow.whenDrained().then(resolve);
        });
        if (wake) signal?.removeEventListener('abort', wake);
        wake = undefined;
        if (expiry?.expired()) throw sessionExpired(session);
        if (!drained || signal?.aborted) return;
        const behind = lastSeq < 0 ? 0 : await db.event.count({ where: { orgId, seq: { gt: lastSeq }, ...eventWhere(filter) } });
        if (behind > (options.maxCatchUpEvents ?? DEFAULT_MAX_CATCH_UP_EVENTS)) {
          metrics?.slowConsumersDropped.inc({ action: 'resynced' });
          resync = 'slow_consumer';
        }
      }
    }
  } finally {
    expiry?.stop();
  }
}

/** A session that ended early (auth/sessions.ts) says why; otherwise its token expired. */
function sessionExpired(session: StreamEventsOptions['session']) {
  return new TRPCError({ code: 'UNAUTHORIZED', message: session?.endedBy ?? 'The token has expired; sign in again' });
}

/** Before each hand-off: the session is valid and the connection can take more. */
function checkBeforeYield(expiry: ExpiryWatch | undefined, flow: DeliveryFlow | undefined, session: StreamEventsOptions['session']) {
  if (expiry?.expired()) throw sessionExpired(session);
  if (flow?.isBackedUp()) throw PAUSE_FOR_DRAIN;
}

function countDelivery(metrics: Metrics | undefined, event: LogEvent, path: 'direct' | 'iterator') {
  if (!metrics) return;
  metrics.deliveredBy[path] += 1;
  // Once per event (its first hand-off here), not once per subscriber. A fan-out hands
  // one event to its subscribers one after another: only the first of them looks it up.
  if (event === lastCounted) return;
  lastCounted = event;
  if (!observedLatency.has(event)) {
    observedLatency.add(event);
    metrics.deliverySeconds.observe((Date.now() - Date.parse(event.timestamp)) / 1000);
  }
}

/** Events whose delivery latency was already observed. */
const observedLatency = new WeakSet<LogEvent>();
let lastCounted: LogEvent | undefined;

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
