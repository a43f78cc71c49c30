import type { CrmEvent } from '../../shared/events.ts';
import { markShared } from './shared-events.ts';
import type { EventBus, SubscribeOptions } from './types.ts';

type Listener = (event: CrmEvent) => void;

/** The single-process bus: one room (a set of listeners) per org. */
export class InProcessBus implements EventBus {
  readonly #rooms = new Map<string, Set<Listener>>();

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
    let wake: (() => void) | undefined;
    let done = signal.aborted;

    const listener: Listener = (event) => {
      if (filter && !filter(event)) return;
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
        return event ? { value: event, done: false } : { value: undefined, done: true };
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
