import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { tooManyRequests } from '../errors.ts';

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
  /**
   * An account locked again before it signs in is locked twice as long each time, up to
   * this; its locks are forgotten when twice this passes without a new one (so the longest
   * lock can run out and the next still be longer). `lockSeconds` or less: no growth.
   * @default 86400 (15, 30, 60 minutes … 16 hours, then 24 hours)
   */
  maxLockSeconds: number;
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
 * not count against the accounts they name. An account's locks grow (`maxLockSeconds`):
 * the attempt that locks it also counts the lock, and from the second on sets the lock
 * to `lockSeconds × 2^(locks − 1)`; a success forgets them.
 *
 * With Redis, a `RateLimiterMemory` is the insurance: when Redis does not answer (down,
 * or slower than the client's command timeout) the node counts on its own, as the other
 * per-user limits do (limits/redis.ts), so an outage loosens the limits and never
 * refuses every sign-in.
 */
export class LoginThrottle {
  readonly #config: LoginLimitsConfig;
  readonly #byAccount: RateLimiterAbstract;
  readonly #byAddress: RateLimiterAbstract;
  /** Locks per account, for their growth. */
  readonly #accountLocks: RateLimiterAbstract;

  constructor(config: LoginLimitsConfig, options: LoginThrottleOptions = {}) {
    this.#config = config;
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
    this.#accountLocks = createLimiter(options.redis, {
      keyPrefix: `${prefix}:account-locks`,
      points: Number.MAX_SAFE_INTEGER,
      duration: 2 * Math.max(config.lockSeconds, config.maxLockSeconds),
      blockDuration: 0,
    });
  }

  /**
   * Counts a sign-in attempt of `email` from `address` (absent for in-process callers).
   * Throws TOO_MANY_REQUESTS (with `retryAfterMs`) while the account or the address is
   * locked; otherwise returns what to call when the password turned out right.
   */
  async attempt(email: string, address: string | undefined): Promise<{ succeeded(): Promise<void> }> {
    if (address !== undefined) {
      const refusal = await take(this.#byAddress, address);
      if (refusal) throw tooManyRequests('logins per address', retryAfterMs(refusal.msBeforeNext));
    }
    const refusal = await take(this.#byAccount, email);
    if (refusal) throw tooManyRequests('logins per account', await this.#lockAccount(email, refusal));
    return {
      succeeded: async () => {
        await Promise.all([
          this.#byAccount.delete(email).catch(() => undefined),
          this.#accountLocks.delete(email).catch(() => undefined),
          address === undefined ? undefined : this.#byAddress.reward(address).catch(() => undefined),
        ]);
      },
    };
  }

  /** The retry hint for a refused attempt; the attempt that locked the account (one, however many run at once) counts the lock and lengthens it from the second on. */
  async #lockAccount(email: string, refusal: RateLimiterRes): Promise<number> {
    const { failuresPerAccount, lockSeconds, maxLockSeconds } = this.#config;
    if (refusal.consumedPoints !== failuresPerAccount + 1 || maxLockSeconds <= lockSeconds) return retryAfterMs(refusal.msBeforeNext);
    try {
      const locks = (await this.#accountLocks.penalty(email)).consumedPoints;
      // From now on, not from the first lock: the count lives as long as the locks keep coming.
      await this.#accountLocks.set(email, locks, 2 * maxLockSeconds);
      const seconds = Math.min(maxLockSeconds, lockSeconds * 2 ** Math.min(30, Math.max(0, locks - 1)));
      if (seconds > lockSeconds) await this.#byAccount.block(email, seconds);
      return seconds * 1_000;
    } catch {
      // Neither Redis nor its insurance answered: the plain lock stands.
      return retryAfterMs(refusal.msBeforeNext);
    }
  }
}

function retryAfterMs(msBeforeNext: number): number {
  return Math.max(1, Math.ceil(msBeforeNext));
}

function createLimiter(redis: Redis | undefined, options: { keyPrefix: string; points: number; duration: number; blockDuration: number }): RateLimiterAbstract {
  const memory = new RateLimiterMemory(options);
  if (!redis) return memory;
  // `rejectIfRedisNotReady`: while the client is not connected, go to the insurance at once rather than wait.
  return new RateLimiterRedis({ ...options, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: memory });
}

/** One point of `key`; the refusal when it is past the limit or locked. */
async function take(limiter: RateLimiterAbstract, key: string): Promise<RateLimiterRes | null> {
  try {
    await limiter.consume(key);
    return null;
  } catch (refusal) {
    // Anything but a refusal (both Redis and its insurance failing) lets the attempt through: never refuse for want of a counter.
    return refusal instanceof RateLimiterRes ? refusal : null;
  }
}
