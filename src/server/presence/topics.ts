/**
 * Ephemeral pub/sub by topic, for state that lives in memory (presence, typing): a
 * listener set per topic, so publishing costs O(subscribers of that topic). Unlike
 * the event bus there is no log behind it; a subscriber that lets `maxBuffered`
 * messages pile up is ended with an error and resubscribes to get the state afresh.
 */
export class Topics<T> {
  readonly #topics = new Map<string, Set<(value: T) => void>>();
  readonly #maxBuffered: number;

  constructor({ maxBuffered = 1_000 } = {}) {
    this.#maxBuffered = maxBuffered;
  }

  publish(topic: string, value: T): void {
    const listeners = this.#topics.get(topic);
    if (listeners) for (const listener of listeners) listener(value);
  }

  /** Starts buffering at once; yields until `signal` aborts or the iterator is returned. */
  subscribe(topic: string, signal: AbortSignal): AsyncIterableIterator<T> {
    const listeners = this.#topics.get(topic) ?? new Set();
    this.#topics.set(topic, listeners);
    const queue: T[] = [];
    const maxBuffered = this.#maxBuffered;
    let wake: (() => void) | undefined;
    let done = false;
    let overflowed = false;
    const listener = (value: T) => {
      if (queue.length >= maxBuffered) {
        overflowed = true;
        leave();
        return;
      }
      queue.push(value);
      wake?.();
    };
    const leave = () => {
      done = true;
      listeners.delete(listener);
      if (listeners.size === 0 && this.#topics.get(topic) === listeners) this.#topics.delete(topic);
      signal.removeEventListener('abort', leave);
      wake?.();
    };
    if (signal.aborted) leave();
    else {
      listeners.add(listener);
      signal.addEventListener('abort', leave, { once: true });
    }
    const iterator: AsyncIterableIterator<T> = {
      async next() {
        while (queue.length === 0 && !done) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        if (overflowed) throw new Error('The subscriber fell behind; subscribe again');
        return { value: undefined, done: true };
      },
      async return() {
        leave();
        queue.length = 0;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  listenerCount(topic?: string): number {
    if (topic !== undefined) return this.#topics.get(topic)?.size ?? 0;
    let count = 0;
    for (const listeners of this.#topics.values()) count += listeners.size;
    return count;
  }
}
