/**
 * Flow control of one WebSocket connection: one outbound bound for everything the
 * connection is sent (replies, errors, subscription data), and a cap on the requests it
 * runs at once.
 *
 * Why: replies used to be written with no regard for the reader. One 221 KB frame of
 * 1,000 `events.since` queries from a client that stopped reading grew the server's
 * outbound buffer to 116 MB and its heap to 1 GB (security review, issue 18). Now:
 *
 * - at most `maxInflight` requests of a connection run at once; the others wait, and
 *   once half of `maxWaiting` wait the connection is not read (`ws`'s `pause()`) until
 *   they have started, so what a client can make the server hold is bounded by what it
 *   already sent, never by what it could send (below that, a `subscription.stop` for a
 *   waiting subscription is still read at once); past `maxWaiting`, requests are refused;
 * - once the connection's outbound buffer passes `maxBufferedBytes`, nothing new starts
 *   and the connection is not read until the buffer is down to half; the replies of the
 *   requests already running are what it can grow by (each bounded in bytes by its
 *   procedure: list limits, `events.since`'s byte cap);
 * - a connection that stays over the bound for `drainTimeoutMs` is closed with 4008,
 *   whether or not it answers PINGs (while paused, its PONGs are not even read).
 */
export interface FlowOptions {
  /** Outbound bytes a connection may have waiting before it stops being read. */
  maxBufferedBytes: number;
  /** A connection over the bound for this long is closed with 4008. */
  drainTimeoutMs: number;
  /** Requests (queries, mutations, subscription starts) one connection runs at once. */
  maxInflight: number;
  /** Requests that may wait for a slot; past this they are refused (TOO_MANY_REQUESTS). */
  maxWaiting: number;
}

/** What slow readers are allowed (`SLOW_CONSUMER_*`): the outbound bound and drain time here, the catch-up a parked log stream may replay. */
export interface BackpressureOptions {
  /** Outbound bytes a connection may have waiting. @default 1 MiB */
  maxBufferedBytes: number;
  /** How long a backed-up connection may take to drain before it is closed. @default 30000 */
  drainTimeoutMs: number;
  /** Events behind beyond which a drained log subscriber gets a RESYNC rather than a replay. @default 10000 */
  maxCatchUpEvents: number;
}

export const defaultBackpressure: BackpressureOptions = { maxBufferedBytes: 1024 * 1024, drainTimeoutMs: 30_000, maxCatchUpEvents: 10_000 };

export const defaultFlowOptions: FlowOptions = {
  maxBufferedBytes: defaultBackpressure.maxBufferedBytes,
  drainTimeoutMs: defaultBackpressure.drainTimeoutMs,
  maxInflight: 8,
  maxWaiting: 200,
};

/** What flow control needs of a `ws` WebSocket (all public API). */
export interface FlowSocket {
  readonly bufferedAmount: number;
  readonly readyState: number;
  pause(): void;
  resume(): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** The close code of a connection that did not read what it was sent in time (as the subscriptions' backpressure uses). */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;
const DRAIN_POLL_MS = 25;
const OPEN = 1;

/** A class rather than closures: one is kept per connection, and most never wait for anything. */
export class ConnectionFlow {
  #inflight = 0;
  /** Requests waiting for a slot, oldest first; made when the first one waits. */
  #waiting: (() => void)[] | undefined = undefined;
  #drainTimer: ReturnType<typeof setInterval> | undefined = undefined;
  #drainDeadline = 0;
  #paused = false;
  #closed = false;
  /** Who waits for the buffer to drain (`whenDrained`); made when the first one waits. */
  #drainWaiters: ((drained: boolean) => void)[] | undefined = undefined;

  constructor(
    readonly socket: FlowSocket,
    readonly options: FlowOptions,
    /** Told when the connection is closed for not draining (an object, not a closure: one fewer per connection). */
    readonly owner: { slowConsumer(): void },
  ) {}

  get inflight(): number {
    return this.#inflight;
  }

  get waiting(): number {
    return this.#waiting?.length ?? 0;
  }

  /** True while the connection is not being read (many requests wait, or its outbound buffer is over the bound). */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Runs `task` now when a slot is free and the outbound buffer is under its bound, else
   * when one frees; `task` calls `done()` when its request has answered. Answers false,
   * and runs nothing, when too many requests wait already: the caller refuses this one.
   */
  admit(task: () => void): boolean {
    if (this.#closed) return true;
    if (this.#inflight < this.options.maxInflight && !this.#drainTimer && !this.#waiting?.length) {
      this.#inflight += 1;
      task();
      return true;
    }
    const waiting = (this.#waiting ??= []);
    if (waiting.length >= this.options.maxWaiting) return false;
    waiting.push(task);
    this.#updateReading();
    return true;
  }

  /** An admitted request answered: its slot goes to the next waiting one. */
  done(): void {
    this.#inflight -= 1;
    this.#startWaiting();
  }

  /** True while the outbound buffer is over its bound (from the write that passed it until it is down to half). */
  isBackedUp(): boolean {
    return this.#drainTimer !== undefined;
  }

  /**
   * Resolves true once the outbound buffer is down to half its bound (at once if it is
   * not backed up), false when the connection closes first, whether by its client or
   * for not draining in time. One watch per connection, however many wait.
   */
  whenDrained(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (!this.#drainTimer) return Promise.resolve(true);
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  /** Call after every write to the socket. */
  wrote(): void {
    if (this.#drainTimer || this.#closed || this.socket.bufferedAmount <= this.options.maxBufferedBytes) return;
    this.#drainDeadline = Date.now() + this.options.drainTimeoutMs;
    // `ws` has no drain event of its own; the buffer is polled while the connection is backed up.
    this.#drainTimer = setInterval(() => this.#checkDrain(), DRAIN_POLL_MS);
    this.#drainTimer.unref?.();
    this.#updateReading();
  }

  /** The connection closed: nothing waiting runs. */
  closed(): void {
    this.#closed = true;
    this.#waiting = undefined;
    if (this.#drainTimer) clearInterval(this.#drainTimer);
    this.#drainTimer = undefined;
    this.#wakeDrainWaiters(false);
  }

  #wakeDrainWaiters(drained: boolean): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = undefined;
    if (waiters) for (const resolve of waiters) resolve(drained);
  }

  #checkDrain(): void {
    if (this.socket.readyState !== OPEN) {
      this.closed();
      return;
    }
    if (this.socket.bufferedAmount <= this.options.maxBufferedBytes / 2) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = undefined;
      this.#startWaiting();
      this.#wakeDrainWaiters(true);
      return;
    }
    if (Date.now() < this.#drainDeadline) return;
    this.closed();
    this.owner.slowConsumer();
    // The closing frame would wait behind the full buffer: cut the connection.
    this.socket.close(SLOW_CONSUMER_CLOSE_CODE, 'Slow consumer: the client reads too slowly');
    this.socket.terminate();
  }

  #startWaiting(): void {
    const waiting = this.#waiting;
    while (waiting?.length && this.#inflight < this.options.maxInflight && !this.#drainTimer && !this.#closed) {
      this.#inflight += 1;
      waiting.shift()!();
    }
    this.#updateReading();
  }

  #updateReading(): void {
    const waiting = this.#waiting?.length ?? 0;
    const pause = !this.#closed && (this.#drainTimer !== undefined || (waiting > 0 && waiting >= this.options.maxWaiting / 2));
    if (pause === this.#paused || this.socket.readyState !== OPEN) return;
    this.#paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }
}
