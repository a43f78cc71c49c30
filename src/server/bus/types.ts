import type { LogEvent } from '../../shared/events.ts';
import type { TopicSubscription } from '../pubsub/topics.ts';

export type BusSubscription = TopicSubscription<LogEvent>;

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
  signal: AbortSignal;
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
