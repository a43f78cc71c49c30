import type { LogEvent } from '../../shared/events.ts';
import { Rooms } from './rooms.ts';
import { markShared } from './shared-events.ts';
import { BusOverflow, type EventBus, type SubscribeOptions, type BusSubscription } from './types.ts';

export interface InProcessBusOptions {
  /** Events one subscriber may have waiting before it is detached with BusOverflow. @default 10_000 */
  maxBuffered?: number;
}

/** The single-process bus: one room per org. */
export class InProcessBus implements EventBus {
  readonly #rooms: Rooms;

  constructor(options: InProcessBusOptions = {}) {
    // The log still has everything from just before the oldest dropped event.
    this.#rooms = new Rooms(options.maxBuffered ?? 10_000, (oldest) => new BusOverflow(oldest.seq - 1));
  }

  publish(event: LogEvent): void {
    if (this.#rooms.listenerCount(event.orgId) === 0) return;
    // Every subscriber receives the same frozen object, so the ws encoder
    // serializes it once per event rather than once per subscriber.
    markShared(event);
    this.#rooms.publish(event.orgId, event);
  }

  subscribe(orgId: string, options: SubscribeOptions): BusSubscription {
    return this.#rooms.subscribe(orgId, options);
  }

  listenerCount(orgId?: string): number {
    return this.#rooms.listenerCount(orgId);
  }
}
