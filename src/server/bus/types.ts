import type { CrmEvent } from '../../shared/events.ts';

export interface SubscribeOptions {
  signal: AbortSignal;
  /** Runs per event of the org; keep it cheap. */
  filter?: (event: CrmEvent) => boolean;
}

/**
 * Carries committed events to the subscriptions of their org. Publishing reaches
 * only that org's subscribers (O(subscribers of the org)), never every subscriber.
 */
export interface EventBus {
  /** Call only after the event's transaction has committed. */
  publish(event: CrmEvent): void;
  /**
   * Starts buffering the org's events at once (so a caller can subscribe, then read
   * the log, and miss nothing in between) and yields them until `signal` aborts or
   * the iterator is returned.
   */
  subscribe(orgId: string, options: SubscribeOptions): AsyncIterableIterator<CrmEvent>;
  /** Live subscriptions, of one org or of all; for leak tests and metrics. */
  listenerCount(orgId?: string): number;
}
