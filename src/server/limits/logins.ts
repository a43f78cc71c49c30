import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { tooManyRequests } from '../limits.ts';

/**
 * How sign-ins are throttled (issue 18: 300 wrong passwords for one account were all
 * checked in 14.6 s). Durations are whole seconds: Redis keys expire by the second.
 */
export interface LoginLimitsConfig {
  /** Sign-ins of one account (email) that may fail within the window; the next attempt locks it. @default 10 */
  failuresPerAccount: number;
  /** Sign-ins from one client address that may fail within the window (any accounts); looser, for offices behind one NAT. @default 100 */
  failuresPerAddress: number;
  /** How long a failure counts. @default 900 (15 minutes) */
  windowSeconds: number;
  /** How long a locked account or address is refused, even with the right password. @default 900 (15 minutes) */
  lockSeconds: number;
}

export interface LoginThrottleOptions {
  /** With BUS=redis: counts are shared by every node; each node counts alone while Redis does not answer. */
  redis?: Redis | undefined;
  prefix?: string;
}

/**
 * Sign-in throttling per account and per client address.
 *
 * Every attempt takes one point from each of its counters *before* the password is
 * hashed, in one atomic increment (in Redis: one Lua script), so the attempts of one
 * HTTP batch, or of several nodes, cannot all see a count below the limit and all run
 * scrypt. A failed attempt keeps its points; a successful one resets the account's count
 * and gives its point back to the address (successes are not failures). The attempt
 * past the limit locks the counter for `lockSeconds`: until then every attempt,
 * with the right password too, is refused before anything is checked.
 *
 * The address is checked first, so attempts from an address that is already locked do
 * not count against the accounts they name.
 *
 * With Redis, a `RateLimiterMemory` is the insurance: when Redis does not answer (down,
 * or slower than the client's command timeout) the node counts on its own, as the other
 * per-user limits do (limits/redis.ts), so an outage loosens the limits and never
 * refuses every sign-in.
 */
export class LoginThrottle {
  readonly #byAccount: RateLimiterAbstract;
  readonly #byAddress: RateLimiterAbstract;

  constructor(config: LoginLimitsConfig, options: LoginThrottleOptions = {}) {
    const prefix = options.prefix ?? 'tandem:logins';
    this.#byAccount = createLimiter(options.redis, {
      keyPrefix: `${prefix}:account`,
      points: config.failuresPerAccount,
      duration: config.windowSeconds,
      blockDuration: config.lockSeconds,
    });
    this.#byAddress = createLimiter(options.redis, {
      keyPrefix: `${prefix}:address`,
      points: config.failuresPerAddress,
      duration: config.windowSeconds,
      blockDuration: config.lockSeconds,
    });
  }

  /**
   * Counts a sign-in attempt of `email` from `address` (absent for in-process callers).
   * Throws TOO_MANY_REQUESTS (with `retryAfterMs`) while the account or the address is
   * locked; otherwise returns what to call when the password turned out right.
   */
  async attempt(email: string, address: string | undefined): Promise<{ succeeded(): Promise<void> }> {
    if (address !== undefined) await take(this.#byAddress, address, 'logins per address');
    await take(this.#byAccount, email, 'logins per account');
    return {
      succeeded: async () => {
        await Promise.all([
          this.#byAccount.delete(email).catch(() => undefined),
          address === undefined ? undefined : this.#byAddress.reward(address).catch(() => undefined),
        ]);
      },
    };
  }
}

function createLimiter(redis: Redis | undefined, options: { keyPrefix: string; points: number; duration: number; blockDuration: number }): RateLimiterAbstract {
  const memory = new RateLimiterMemory(options);
  if (!redis) return memory;
  // `rejectIfRedisNotReady`: while the client is not connected, go to the insurance at once rather than wait.
  return new RateLimiterRedis({ ...options, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: memory });
}

async function take(limiter: RateLimiterAbstract, key: string, limit: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (refusal) {
    // Anything but a refusal (both Redis and its insurance failing) lets the attempt through: never refuse for want of a counter.
    if (refusal instanceof RateLimiterRes) throw tooManyRequests(limit, Math.max(1, Math.ceil(refusal.msBeforeNext)));
  }
}
