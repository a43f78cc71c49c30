/**
 * Keeps a slow reader from growing the server's memory. A subscription stops handing
 * events to a connection whose outbound buffer is over the bound, leaves the bus
 * (nothing piles up for it), and once the buffer has drained catches up from the
 * log, or, when it fell too far behind, sends one RESYNC. A connection that does not
 * drain in time is closed with a reason.
 */
export interface Backpressure {
  isBackedUp(): boolean;
  /** Resolves true once the buffer is low again, false when it did not drain in time (or `shouldStop()` said so). */
  waitForDrain(shouldStop: () => boolean): Promise<boolean>;
  /** Events behind beyond which a drained subscriber gets a RESYNC rather than a replay. */
  maxCatchUpEvents: number;
  /** Closes the connection: it kept falling behind. */
  giveUp(): void;
}

export interface BackpressureOptions {
  /** Outbound bytes a connection may have waiting. @default 1 MiB */
  maxBufferedBytes: number;
  /** How long a backed-up connection may take to drain before it is closed. @default 30000 */
  drainTimeoutMs: number;
  maxCatchUpEvents: number;
}

export const defaultBackpressure: BackpressureOptions = { maxBufferedBytes: 1024 * 1024, drainTimeoutMs: 30_000, maxCatchUpEvents: 10_000 };

interface OutboundSocket {
  readonly bufferedAmount: number;
  readonly readyState: number;
  close(code: number, reason: string): void;
  terminate(): void;
}

const DRAIN_POLL_MS = 25;

/** A class, not an object of closures: one is kept per connection. */
class SocketBackpressure implements Backpressure {
  readonly maxCatchUpEvents: number;

  constructor(
    readonly socket: OutboundSocket,
    readonly options: BackpressureOptions,
    readonly onGiveUp: () => void,
  ) {
    this.maxCatchUpEvents = options.maxCatchUpEvents;
  }

  isBackedUp(): boolean {
    return this.socket.bufferedAmount > this.options.maxBufferedBytes;
  }

  async waitForDrain(shouldStop: () => boolean): Promise<boolean> {
    const deadline = Date.now() + this.options.drainTimeoutMs;
    // `ws` has no drain event; the buffer is polled while this subscription is parked.
    while (this.socket.bufferedAmount > this.options.maxBufferedBytes / 2) {
      if (shouldStop() || this.socket.readyState > 1 || Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    return !shouldStop();
  }

  giveUp(): void {
    this.onGiveUp();
    // The closing frame would wait behind the full buffer: cut the connection.
    this.socket.close(4008, 'Slow consumer: the client reads too slowly');
    this.socket.terminate();
  }
}

export function socketBackpressure(socket: OutboundSocket, options: BackpressureOptions, onGiveUp: () => void): Backpressure {
  return new SocketBackpressure(socket, options, onGiveUp);
}
