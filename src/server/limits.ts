import { tooManyRequests } from './errors.ts';
import { LoginThrottle, type LoginLimitsConfig } from './limits/logins.ts';
import type { RedisLimitStore } from './limits/redis.ts';

export interface LimitsConfig {
  /** Mutations per second one connection may send (bucket refills at this rate, holds twice as many). */
  mutationsPerSecondPerConnection: number;
  /** Mutations per second one user may send across all their connections. */
  mutationsPerSecondPerUser: number;
  /** Client-originated realtime messages (presence, typing) per minute per connection. */
  realtimeMessagesPerMinute: number;
  maxSubscriptionsPerConnection: number;
  maxConnectionsPerUser: number;
  /** Query cost one connection may spend per second (see `queryCost`; the bucket holds twice as much). */
  queryCostPerSecondPerConnection: number;
  /** Query cost one user may spend per second across their connections on one node. */
  queryCostPerSecondPerUser: number;
  /** HTTP requests of one user being answered at once on one node (until their answer is written out). */
  maxHttpRequestsPerUser: number;
  /** Sign-in throttling per account and per client address (see limits/logins.ts). */
  logins: LoginLimitsConfig;
}

export const defaultLimits: LimitsConfig = {
  mutationsPerSecondPerConnection: 20,
  mutationsPerSecondPerUser: 50,
  realtimeMessagesPerMinute: 100,
  maxSubscriptionsPerConnection: 100,
  maxConnectionsPerUser: 20,
  queryCostPerSecondPerConnection: 200,
  queryCostPerSecondPerUser: 400,
  maxHttpRequestsPerUser: 16,
  // 10 failed sign-ins of one account, or 100 from one address, within 15 minutes lock it for 15 minutes;
  // an account locked again before it signs in, twice as long each time, up to 24 hours.
  logins: { failuresPerAccount: 10, failuresPerAddress: 100, windowSeconds: 15 * 60, lockSeconds: 15 * 60, maxLockSeconds: 24 * 3600 },
};

/**
 * What a query costs of the query budget: 1, plus 1 per 100 rows it may answer
 * (`limit`): `jobs.list({ limit: 200 })` costs 3, `events.since({ limit: 1000 })` 11.
 * What a page costs the database and the connection grows with its size.
 */
export function queryCost(rawInput: unknown): number {
  const limit = typeof rawInput === 'object' && rawInput !== null ? (rawInput as { limit?: unknown }).limit : undefined;
  return 1 + (typeof limit === 'number' && Number.isFinite(limit) ? Math.floor(Math.min(Math.max(limit, 0), 1000) / 100) : 0);
}

/** Wrong current passwords of one account in `auth.changePassword` within the sign-in window before it locks. */
export const PASSWORD_CHANGE_FAILURES = 5;

/** What a user's open HTTP answers may hold unread before their next request is refused. */
export const MAX_UNREAD_HTTP_BYTES = 4 * 1024 * 1024;

/**
 * Token buckets by key. Memory stays bounded: a bucket that would be full again is
 * worth nothing and is dropped by the sweep that runs as keys are added.
 *
 * Not rate-limiter-flexible (which counts sign-ins, limits/logins.ts): its limiters are
 * fixed windows, so a retry hint would be the window's end rather than the next token's
 * time and a burst could double at a window's edge; it has nothing for the connection
 * slots renewed by their node (limits/redis.ts); and on this hot path it costs 2.1 to 2.4
 * times as much in memory (bench/limits.ts, two runs: 342–424 against 728–1,001 ns per
 * check; with Redis both are one round trip, 1.1 times).
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #capacity: number;
  readonly #perMs: number;

  constructor(ratePerSecond: number, burst = ratePerSecond * 2) {
    this.#capacity = burst;
    this.#perMs = ratePerSecond / 1000;
  }

  /** Takes `cost` tokens (one by default), or says how long until they are available. */
  take(key: string, now = Date.now(), cost = 1): { ok: true } | { ok: false; retryAfterMs: number } {
    const bucket = this.#buckets.get(key) ?? this.#add(key, now);
    bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
    // A cost larger than the bucket can ever hold is charged as a full bucket, or it would never pass.
    const charge = Math.min(cost, this.#capacity);
    if (bucket.tokens >= charge) {
      bucket.tokens -= charge;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((charge - bucket.tokens) / this.#perMs) };
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

/**
 * The server's limits, shared by every connection. With `shared` (BUS=redis) the
 * per-user limits (mutations per second, connections) count across every node in
 * Redis; when Redis does not answer they fall back to this node's own count.
 * Per-connection limits are always local: a connection lives on one node. Sign-in
 * attempts are counted per account and per address, across nodes with `shared` too.
 */
export function createLimits(config: LimitsConfig = defaultLimits, shared?: RedisLimitStore) {
  const perConnection = new RateLimiter(config.mutationsPerSecondPerConnection);
  const perUser = new RateLimiter(config.mutationsPerSecondPerUser);
  const realtime = new RateLimiter(config.realtimeMessagesPerMinute / 60, config.realtimeMessagesPerMinute);
  const queriesByConnection = new RateLimiter(config.queryCostPerSecondPerConnection);
  const queriesByUser = new RateLimiter(config.queryCostPerSecondPerUser);
  const connectionsByUser = new Map<string, number>();
  const httpRequestsByUser = new Map<string, Set<() => number>>();
  let slots = 0;
  const logins = new LoginThrottle(config.logins, { redis: shared?.client });
  // Guessing a signed-in user's current password: stricter per account, counted apart from sign-ins.
  const passwordChanges = new LoginThrottle({ ...config.logins, failuresPerAccount: PASSWORD_CHANGE_FAILURES }, { redis: shared?.client, prefix: 'tandem:password-changes' });

  async function takeUserToken(userId: string) {
    const rate = config.mutationsPerSecondPerUser;
    return (await shared?.take(`mutations:${userId}`, rate, rate * 2)) ?? perUser.take(userId);
  }

  return {
    config,
    /** Sign-in attempts: `logins.attempt(email, address)` before the password is checked (also invitation tokens, by the token's hash). */
    logins,
    /** `auth.changePassword`: `passwordChanges.attempt(userId, address)` before the current password is checked. */
    passwordChanges,
    /** Throws TOO_MANY_REQUESTS when the connection or the user sends mutations too fast. */
    async checkMutation(connectionId: string, userId: string): Promise<void> {
      const byConnection = perConnection.take(connectionId);
      if (!byConnection.ok) throw tooManyRequests('mutations per connection', byConnection.retryAfterMs);
      const byUser = await takeUserToken(userId);
      if (!byUser.ok) throw tooManyRequests('mutations per user', byUser.retryAfterMs);
    },
    /**
     * Throws TOO_MANY_REQUESTS past the connection's or the user's query budget. Counted
     * on this node only: a query's cost is small next to a Redis round trip on every read.
     */
    checkQuery(connectionId: string, userId: string, cost: number): void {
      const now = Date.now();
      const byConnection = queriesByConnection.take(connectionId, now, cost);
      if (!byConnection.ok) throw tooManyRequests('queries per connection', byConnection.retryAfterMs);
      const byUser = queriesByUser.take(userId, now, cost);
      if (!byUser.ok) throw tooManyRequests('queries per user', byUser.retryAfterMs);
    },
    /** Throws TOO_MANY_REQUESTS past the per-connection budget of presence and typing messages. */
    checkRealtimeMessage(connectionId: string) {
      const result = realtime.take(connectionId);
      if (!result.ok) throw tooManyRequests('realtime messages per connection', result.retryAfterMs);
    },
    /** Counts a new WebSocket connection of the user (on every node with `shared`); returns its release, or throws past the cap. */
    async openConnection(userId: string): Promise<() => void> {
      const count = connectionsByUser.get(userId) ?? 0;
      if (count >= config.maxConnectionsPerUser) throw tooManyRequests('connections per user', 5_000);
      const slot = `${process.pid}-${++slots}-${Math.random().toString(36).slice(2)}`;
      connectionsByUser.set(userId, count + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        shared?.releaseSlot(userId, slot);
        const left = (connectionsByUser.get(userId) ?? 1) - 1;
        if (left <= 0) connectionsByUser.delete(userId);
        else connectionsByUser.set(userId, left);
      };
      if ((await shared?.openSlot(userId, slot, config.maxConnectionsPerUser)) === false) {
        release();
        throw tooManyRequests('connections per user', 5_000);
      }
      return release;
    },
    /**
     * Counts an HTTP request of the user until its answer is written out (or its
     * connection closes); returns its release, or throws when the user has
     * `maxHttpRequestsPerUser` requests open, or their open answers still hold more than
     * `MAX_UNREAD_HTTP_BYTES` their clients have not read (`unread` tells each one's).
     * HTTP answers cannot be paused as a WebSocket is: this, the query budget and the
     * batch size are what bound them.
     */
    beginHttpRequest(userId: string, unread: () => number): () => void {
      const open = httpRequestsByUser.get(userId);
      if (open && open.size >= config.maxHttpRequestsPerUser) throw tooManyRequests('HTTP requests per user', 250);
      if (open) {
        let bytes = 0;
        for (const unreadOf of open) bytes += unreadOf();
        if (bytes > MAX_UNREAD_HTTP_BYTES) throw tooManyRequests('unread HTTP answers per user', 1_000);
      }
      httpRequestsByUser.set(userId, (open ?? new Set()).add(unread));
      return () => {
        const set = httpRequestsByUser.get(userId);
        if (!set?.delete(unread) || set.size > 0) return;
        httpRequestsByUser.delete(userId);
      };
    },
    /** The user's WebSocket connections on this node. */
    connectionsOf(userId: string): number {
      return connectionsByUser.get(userId) ?? 0;
    },
    async close(): Promise<void> {
      await shared?.close();
    },
  };
}

export type Limits = ReturnType<typeof createLimits>;
