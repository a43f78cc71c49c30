import type { CrmEvent } from '../../shared/events.ts';
import { markShared } from './shared-events.ts';
import { BusOverflow, type EventBus, type SubscribeOptions } from './types.ts';

type Listener = (event: CrmEvent) => void;

export interface InProcessBusOptions {
  /** Events one subscriber may have waiting before it is detached with BusOverflow. @default 10_000 */
  maxBuffered?: number;
}

/** The single-process bus: one room (a set of listeners) per org. */
export class InProcessBus implements EventBus {
  readonly #rooms = new Map<string, Set<Listener>>();
  readonly #maxBuffered: number;

  constructor(options: InProcessBusOptions = {}) {
    this.#maxBuffered = options.maxBuffered ?? 10_000;
  }

  publish(event: CrmEvent): void {
    const room = this.#rooms.get(event.orgId);
    if (!room) return;
    // Every subscriber receives the same frozen object, so the ws encoder
    // serializes it once per event rather than once per subscriber.
    markShared(event);
    for (const listener of room) listener(event);
  }

  subscribe(orgId: string, { signal, filter }: SubscribeOptions): AsyncIterableIterator<CrmEvent> {
    let room = this.#rooms.get(orgId);
    if (!room) {
      room = new Set();
      this.#rooms.set(orgId, room);
    }
    const members = room;
    const queue: CrmEvent[] = [];
    const maxBuffered = this.#maxBuffered;
    let wake: (() => void) | undefined;
    let done = signal.aborted;
    let overflow: BusOverflow | undefined;

    const listener: Listener = (event) => {
      if (filter && !filter(event)) return;
      if (queue.length >= maxBuffered) {
        overflow = new BusOverflow(queue[0]!.seq - 1);
        queue.length = 0;
        leave();
        return;
      }
      queue.push(event);
      wake?.();
    };
    const leave = () => {
      done = true;
      members.delete(listener);
      if (members.size === 0 && this.#rooms.get(orgId) === members) this.#rooms.delete(orgId);
      signal.removeEventListener('abort', leave);
      wake?.();
    };

    if (done) leave();
    else {
      members.add(listener);
      signal.addEventListener('abort', leave, { once: true });
    }

    const iterator: AsyncIterableIterator<CrmEvent> = {
      async next() {
        while (queue.length === 0 && !done) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        const event = queue.shift();
        if (event) return { value: event, done: false };
        if (overflow) throw overflow;
        return { value: undefined, done: true };
      },
      async return() {
        leave();
        queue.length = 0;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  listenerCount(orgId?: string): number {
    if (orgId !== undefined) return this.#rooms.get(orgId)?.size ?? 0;
    let count = 0;
    for (const room of this.#rooms.values()) count += room.size;
    return count;
  }
}
