/**
 * In-memory pub/sub by topic: a listener set per topic, so publishing costs
 * O(subscribers of that topic), never a scan of all. Each subscription is an async
 * iterator with its own queue; one that lets `maxBuffered` values pile up is detached
 * and its iterator throws `overflowError(oldestQueued)`, so memory stays bounded.
 * The event bus (rooms by org) and presence (rooms by org and record) are built on it.
 */
export interface TopicSubscribeOptions<T> {
  signal: AbortSignal;
  /** Runs per published value of the topic; keep it cheap. */
  filter?: ((value: T) => boolean) | undefined;
}

/** A subscription's iterator, which can also hand its values straight to a function. */
export interface TopicSubscription<T> extends AsyncIterableIterator<T> {
  /** Values waiting for `next()`. */
  readonly queued: number;
  /**
   * From now on, values go to `sink` as they are published (synchronously, in order)
   * instead of the queue; `null` goes back to queueing. Call only with an empty queue.
   */
  divert(sink: ((value: T) => void) | null): void;
}

export class Topics<T> {
  readonly #topics = new Map<string, Set<(value: T) => void>>();
  readonly #maxBuffered: number;
  readonly #overflowError: (oldest: T) => Error;

  constructor({
    maxBuffered = 1_000,
    overflowError = () => new Error('The subscriber fell behind; subscribe again'),
  }: { maxBuffered?: number; overflowError?: (oldest: T) => Error } = {}) {
    this.#maxBuffered = maxBuffered;
    this.#overflowError = overflowError;
  }

  publish(topic: string, value: T): void {
    const listeners = this.#topics.get(topic);
    if (listeners) for (const listener of listeners) listener(value);
  }

  /** Starts buffering at once; yields until `signal` aborts or the iterator is returned. */
  subscribe(topic: string, { signal, filter }: TopicSubscribeOptions<T>): TopicSubscription<T> {
    const listeners = this.#topics.get(topic) ?? new Set();
    this.#topics.set(topic, listeners);
    const queue: T[] = [];
    const maxBuffered = this.#maxBuffered;
    let wake: (() => void) | undefined;
    let done = false;
    let overflow: Error | undefined;
    let sink: ((value: T) => void) | null = null;
    const listener = (value: T) => {
      if (filter && !filter(value)) return;
      if (sink) return sink(value);
      if (queue.length >= maxBuffered) {
        overflow = this.#overflowError(queue[0]!);
        queue.length = 0;
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
    const iterator: TopicSubscription<T> = {
      get queued() {
        return queue.length;
      },
      divert(next) {
        if (next && queue.length > 0) throw new Error('divert() with values still queued');
        sink = next;
      },
      async next() {
        while (queue.length === 0 && !done) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        if (overflow) throw overflow;
        return { value: undefined, done: true };
      },
      async return() {
        leave();
        sink = null;
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
