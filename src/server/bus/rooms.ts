import type { LogEvent } from '../../shared/events.ts';
import type { BusSubscription, DeliveryOutcome, SubscribeOptions } from './types.ts';

/**
 * The bus's subscribers, a set per org. Like pubsub/topics.ts, but each subscription
 * is one object rather than an iterator of closures around a queue: an idle
 * subscription is kept for as long as its client stays connected, and with 10,000 of
 * them the closures, their contexts and a second abort listener cost about 1 KB each.
 */
export class Rooms {
  readonly #rooms = new Map<string, Set<RoomSubscription>>();

  constructor(
    readonly maxBuffered: number,
    readonly overflowError: (oldest: LogEvent) => Error,
  ) {}

  publish(orgId: string, event: LogEvent): void {
    const members = this.#rooms.get(orgId);
    if (members) for (const member of members) member.accept(event);
  }

  subscribe(orgId: string, options: SubscribeOptions): BusSubscription {
    let members = this.#rooms.get(orgId);
    if (!members) this.#rooms.set(orgId, (members = new Set()));
    return new RoomSubscription(this, orgId, members, options);
  }

  /** @internal */
  leave(orgId: string, members: Set<RoomSubscription>, member: RoomSubscription): void {
    members.delete(member);
    if (members.size === 0 && this.#rooms.get(orgId) === members) this.#rooms.delete(orgId);
  }

  listenerCount(orgId?: string): number {
    if (orgId !== undefined) return this.#rooms.get(orgId)?.size ?? 0;
    let count = 0;
    for (const members of this.#rooms.values()) count += members.size;
    return count;
  }
}

class RoomSubscription implements BusSubscription {
  #queue: LogEvent[] = [];
  #wake: (() => void) | undefined;
  #write: ((event: LogEvent) => DeliveryOutcome) | undefined;
  #settle: ((outcome: 'pause' | 'stop') => void) | undefined;
  #done = false;
  #overflow: Error | undefined;
  readonly #filter: ((event: LogEvent) => boolean) | undefined;
  readonly #signal: AbortSignal | undefined;

  constructor(
    readonly rooms: Rooms,
    readonly orgId: string,
    readonly members: Set<RoomSubscription>,
    { signal, filter }: SubscribeOptions,
  ) {
    this.#filter = filter;
    this.#signal = signal;
    if (signal?.aborted) {
      this.#done = true;
      if (members.size === 0) rooms.leave(orgId, members, this);
      return;
    }
    members.add(this);
    // The subscription itself is the listener (its handleEvent): no closure per subscriber.
    signal?.addEventListener('abort', this, { once: true });
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** @internal Called by the room for each event of the org. */
  accept(event: LogEvent): void {
    if (this.#filter && !this.#filter(event)) return;
    if (this.#write) {
      this.#writeDirectly(this.#write, event);
      return;
    }
    if (this.#queue.length >= this.rooms.maxBuffered) {
      this.#overflow = this.rooms.overflowError(this.#queue[0]!);
      this.#queue.length = 0;
      this.end();
      return;
    }
    this.#queue.push(event);
    this.#wake?.();
  }

  /** The signal aborted. */
  handleEvent(): void {
    this.end();
  }

  deliver(write: (event: LogEvent) => DeliveryOutcome): Promise<'pause' | 'stop'> {
    if (this.#queue.length > 0) throw new Error('deliver() with events still queued');
    // The promise and `write` are all a subscription waiting this way holds.
    return new Promise((resolve) => {
      if (this.#done) return resolve('stop');
      this.#write = write;
      this.#settle = resolve;
    });
  }

  #writeDirectly(write: (event: LogEvent) => DeliveryOutcome, event: LogEvent) {
    let outcome: DeliveryOutcome;
    try {
      outcome = write(event);
    } catch {
      outcome = 'stop';
    }
    if (outcome === 'pause' || outcome === 'stop') this.#stopDelivering(outcome);
  }

  #stopDelivering(outcome: 'pause' | 'stop') {
    const settle = this.#settle;
    this.#write = undefined;
    this.#settle = undefined;
    settle?.(outcome);
  }

  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.rooms.leave(this.orgId, this.members, this);
    this.#signal?.removeEventListener('abort', this);
    this.#wake?.();
    this.#stopDelivering('stop');
  }

  async next(): Promise<IteratorResult<LogEvent, undefined>> {
    while (this.#queue.length === 0 && !this.#done) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    if (this.#queue.length > 0) return { value: this.#queue.shift()!, done: false };
    if (this.#overflow) throw this.#overflow;
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<LogEvent, undefined>> {
    this.end();
    this.#queue.length = 0;
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
