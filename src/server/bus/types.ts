import type { LogEvent } from '../../shared/events.ts';

/** What a direct writer did with an event: 'pause' and 'stop' end the delivery. */
export type DeliveryOutcome = 'sent' | 'skip' | 'pause' | 'stop';

/** A subscription's iterator, which can also hand its events straight to a function. */
export interface BusSubscription extends AsyncIterableIterator<LogEvent> {
  /** Events waiting for `next()`. */
  readonly queued: number;
  /**
   * Hands events to `write` as they are published (synchronously, in order) instead of
   * queueing them, until it answers 'pause' or 'stop' (or throws: 'stop'), or the
   * subscription ends ('stop'); resolves with which. Call only with an empty queue.
   */
  deliver(write: (event: LogEvent) => DeliveryOutcome): Promise<'pause' | 'stop'>;
  /** Leaves the bus now: a pending `next()` answers done, a pending `deliver()` 'stop'. */
  end(): void;
  /** `end()`, dropping what was queued. */
  return(): Promise<IteratorResult<LogEvent>>;
}

/**
 * Thrown by a subscription's iterator when its consumer fell so far behind that the
 * bus dropped its buffer. The log still has every event: resume from it after
 * `resumeAfterSeq` (or after the last event the consumer saw, if later).
 */
export class BusOverflow extends Error {
  constructor(readonly resumeAfterSeq: number) {
    super('The subscriber fell behind; resume from the event log');
  }
}

export interface SubscribeOptions {
  /** Ends the subscription when it aborts; without it, only `end` or `return` do. */
  signal?: AbortSignal | undefined;
  /** Runs per event of the org; keep it cheap. */
  filter?: (event: LogEvent) => boolean;
}

/**
 * Carries committed events to the subscriptions of their org. Publishing reaches
 * only that org's subscribers (O(subscribers of the org)), never every subscriber.
 */
export interface EventBus {
  /**
   * Call only after the event's transaction has committed. `prevSeq` is the org's
   * event before it: a bus spanning nodes uses it to notice and fill gaps.
   */
  publish(event: LogEvent, prevSeq?: number): void;
  /**
   * Starts buffering the org's events at once (so a caller can subscribe, then read
   * the log, and miss nothing in between) and yields them until `signal` aborts or
   * the iterator is returned. A consumer that lets its buffer grow past the bus's
   * limit is detached and gets `BusOverflow`: memory stays bounded, and the log
   * serves the catch-up.
   */
  subscribe(orgId: string, options: SubscribeOptions): BusSubscription;
  /** Live subscriptions, of one org or of all; for leak tests and metrics. */
  listenerCount(orgId?: string): number;
  /** Stops what the bus runs in the background (connections, polling). */
  close?(): Promise<void>;
}
