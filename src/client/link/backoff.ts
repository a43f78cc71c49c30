export interface BackoffOptions {
  /** The delay of attempt 0, doubled with each attempt after it. @default 1000 */
  baseMs?: number;
  /** The longest delay. @default 30000 */
  capMs?: number;
  /**
   * How much of the delay is left to chance, from 0 (none: exact timing) to 1. With 0.5, a
   * delay `d` becomes anything in [d/2, d], so clients that lost the server together do not
   * all come back at the same moment. @default 0.5
   */
  jitter?: number;
  /** The source of randomness (tests pass a fixed one). @default Math.random */
  random?: () => number;
}

/**
 * The client's one backoff: exponential (`baseMs × 2^attempt`, capped at `capMs`), with jitter.
 * The defaults are the socket's reconnect: about 1, 2, 4, 8 … s, capped at 30 s.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { baseMs = 1_000, capMs = 30_000, jitter = 0.5, random = Math.random } = options;
  const delay = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(delay * (1 - jitter * random()));
}
