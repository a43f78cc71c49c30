import { TRPCError } from '@trpc/server';

export interface LimitsConfig {
  /** Mutations per second one connection may send (bucket refills at this rate, holds twice as many). */
  mutationsPerSecondPerConnection: number;
  /** Mutations per second one user may send across all their connections. */
  mutationsPerSecondPerUser: number;
  /** Client-originated realtime messages (presence, typing) per minute per connection. */
  realtimeMessagesPerMinute: number;
  maxSubscriptionsPerConnection: number;
  maxConnectionsPerUser: number;
}

export const defaultLimits: LimitsConfig = {
  mutationsPerSecondPerConnection: 20,
  mutationsPerSecondPerUser: 50,
  realtimeMessagesPerMinute: 100,
  maxSubscriptionsPerConnection: 100,
  maxConnectionsPerUser: 20,
};

/** Carried as the cause of TOO_MANY_REQUESTS; the error formatter exposes `retryAfterMs`. */
export class RateLimited extends Error {
  constructor(
    readonly limit: string,
    readonly retryAfterMs: number,
  ) {
    super(`Too many requests (${limit}); retry in ${retryAfterMs} ms`);
  }
}

export function tooManyRequests(limit: string, retryAfterMs: number): TRPCError {
  const cause = new RateLimited(limit, retryAfterMs);
  return new TRPCError({ code: 'TOO_MANY_REQUESTS', message: cause.message, cause });
}

/**
 * Token buckets by key. Memory stays bounded: a bucket that would be full again is
 * worth nothing and is dropped by the sweep that runs as keys are added.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #capacity: number;
  readonly #perMs: number;

  constructor(ratePerSecond: number, burst = ratePerSecond * 2) {
    this.#capacity = burst;
    this.#perMs = ratePerSecond / 1000;
  }

  /** Takes one token, or says how long until one is available. */
  take(key: string, now = Date.now()): { ok: true } | { ok: false; retryAfterMs: number } {
    const bucket = this.#buckets.get(key) ?? this.#add(key, now);
    bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.#perMs) };
  }

  get size(): number {
    return this.#buckets.size;
  }

  #add(key: string, now: number) {
    if (this.#buckets.size >= 10_000) {
      for (const [other, bucket] of this.#buckets) {
        if (bucket.tokens + (now - bucket.at) * this.#perMs >= this.#capacity) this.#buckets.delete(other);
      }
    }
    const bucket = { tokens: this.#capacity, at: now };
    this.#buckets.set(key, bucket);
    return bucket;
  }
}

/** The server's limits, shared by every connection. */
export function createLimits(config: LimitsConfig = defaultLimits) {
  const perConnection = new RateLimiter(config.mutationsPerSecondPerConnection);
  const perUser = new RateLimiter(config.mutationsPerSecondPerUser);
  const realtime = new RateLimiter(config.realtimeMessagesPerMinute / 60, config.realtimeMessagesPerMinute);
  const connectionsByUser = new Map<string, number>();

  return {
    config,
    /** Throws TOO_MANY_REQUESTS when the connection or the user sends mutations too fast. */
    checkMutation(connectionId: string, userId: string) {
      for (const [name, limiter, key] of [
        ['mutations per connection', perConnection, connectionId],
        ['mutations per user', perUser, userId],
      ] as const) {
        const result = limiter.take(key);
        if (!result.ok) throw tooManyRequests(name, result.retryAfterMs);
      }
    },
    /** Throws TOO_MANY_REQUESTS past the per-connection budget of presence and typing messages. */
    checkRealtimeMessage(connectionId: string) {
      const result = realtime.take(connectionId);
      if (!result.ok) throw tooManyRequests('realtime messages per connection', result.retryAfterMs);
    },
    /** Counts a new WebSocket connection of the user; returns its release, or throws past the cap. */
    openConnection(userId: string): () => void {
      const count = connectionsByUser.get(userId) ?? 0;
      if (count >= config.maxConnectionsPerUser) throw tooManyRequests('connections per user', 5_000);
      connectionsByUser.set(userId, count + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (connectionsByUser.get(userId) ?? 1) - 1;
        if (left <= 0) connectionsByUser.delete(userId);
        else connectionsByUser.set(userId, left);
      };
    },
    connectionsOf(userId: string): number {
      return connectionsByUser.get(userId) ?? 0;
    },
  };
}

export type Limits = ReturnType<typeof createLimits>;
