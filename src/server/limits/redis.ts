import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

export interface RedisLimitsOptions {
  url: string;
  logger: Logger;
  /**
   * A connection slot lives this long unless its node renews it (every third of it):
   * the slots of a node killed with `kill -9` free themselves after this. @default 15000
   */
  slotTtlMs?: number;
  /** A Redis answer slower than this counts as no answer: the local bucket decides. @default 250 */
  timeoutMs?: number;
  prefix?: string;
}

/** What a limit asked of Redis; `null` from the store means Redis did not answer. */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * Token bucket in a hash `{ tokens, at }`, refilled by Redis's own clock (so the
 * nodes' clocks do not matter), in one atomic script.
 * KEYS[1] bucket; ARGV: rate per ms, capacity → { 1, 0 } or { 0, retry after ms }
 */
const TAKE_TOKEN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1]) or capacity
local at = tonumber(saved[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
if ok == 1 then return { 1, 0 } end
return { 0, math.ceil((1 - tokens) / rate) }
`;

/**
 * A user's connections as a sorted set of connection id → expiry (Redis time); expired
 * ones are dropped before counting. KEYS[1] set; ARGV: connection id, cap, ttl ms → 1 or 0
 */
const OPEN_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

/** Renews slots: KEYS are the users' sets, ARGV[1] the ttl, then one connection id per key. */
const RENEW_SLOTS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', key, ttl)
end
return #KEYS
`;

interface LimitCommands {
  tandemTakeToken(key: string, ratePerMs: number, capacity: number): Promise<[number, number]>;
  tandemOpenSlot(key: string, connectionId: string, cap: number, ttlMs: number): Promise<number>;
  tandemRenewSlots(...args: (string | number)[]): Promise<number>;
}

/**
 * The per-user limits of all nodes, counted in Redis. Every call answers `null` when
 * Redis does not answer in time (down, or slow): the caller then counts on this node
 * alone, so an outage of Redis loosens limits to per node, never refuses service.
 */
export class RedisLimitStore {
  readonly #redis: Redis & LimitCommands;
  readonly #logger: Logger;
  readonly #prefix: string;
  readonly #slotTtlMs: number;
  /** This node's slots: connection id → user id, renewed in Redis while they live. */
  readonly #slots = new Map<string, string>();
  readonly #renew: ReturnType<typeof setInterval>;
  #reachable = true;

  constructor(options: RedisLimitsOptions) {
    this.#logger = options.logger;
    this.#prefix = options.prefix ?? 'tandem:limits';
    this.#slotTtlMs = options.slotTtlMs ?? 15_000;
    this.#redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.timeoutMs ?? 250,
      retryStrategy: (times: number) => Math.min(100 * times, 1_000),
    }) as Redis & LimitCommands;
    this.#redis.on('error', () => undefined);
    this.#redis.defineCommand('tandemTakeToken', { numberOfKeys: 1, lua: TAKE_TOKEN });
    this.#redis.defineCommand('tandemOpenSlot', { numberOfKeys: 1, lua: OPEN_SLOT });
    this.#redis.defineCommand('tandemRenewSlots', { lua: RENEW_SLOTS });
    // Slots opened while Redis was away are added by the next renewal, so the count heals.
    this.#redis.on('ready', () => void this.#renewSlots());
    this.#renew = setInterval(() => void this.#renewSlots(), Math.max(50, Math.floor(this.#slotTtlMs / 3)));
    this.#renew.unref();
  }

  /** The client, for counters kept by rate-limiter-flexible (limits/logins.ts): same timeouts, no offline queue. */
  get client(): Redis {
    return this.#redis;
  }

  async start(): Promise<void> {
    await this.#redis.connect().catch(() => this.#answered(false));
  }

  /** One token of `key`'s shared bucket; `null` when Redis did not answer. */
  async take(key: string, ratePerSecond: number, capacity: number): Promise<TakeResult | null> {
    const [ok, retryAfterMs] = (await this.#call(() => this.#redis.tandemTakeToken(`${this.#prefix}:bucket:${key}`, ratePerSecond / 1000, capacity))) ?? [];
    if (ok === undefined || retryAfterMs === undefined) return null;
    return ok === 1 ? { ok: true } : { ok: false, retryAfterMs: Math.max(1, retryAfterMs) };
  }

  /** Takes one of the user's `cap` connection slots across nodes; `null` when Redis did not answer (the slot is still remembered and added when it returns). */
  async openSlot(userId: string, connectionId: string, cap: number): Promise<boolean | null> {
    const answer = await this.#call(() => this.#redis.tandemOpenSlot(this.#slotKey(userId), connectionId, cap, this.#slotTtlMs));
    if (answer !== 0) this.#slots.set(connectionId, userId);
    return answer === null ? null : answer === 1;
  }

  releaseSlot(userId: string, connectionId: string): void {
    this.#slots.delete(connectionId);
    if (this.#redis.status === 'ready') this.#redis.zrem(this.#slotKey(userId), connectionId).catch(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.#renew);
    this.#redis.disconnect();
  }

  #slotKey(userId: string) {
    return `${this.#prefix}:connections:${userId}`;
  }

  async #renewSlots() {
    if (this.#slots.size === 0 || this.#redis.status !== 'ready') return;
    const keys: string[] = [];
    const ids: string[] = [];
    for (const [connectionId, userId] of this.#slots) {
      keys.push(this.#slotKey(userId));
      ids.push(connectionId);
    }
    await this.#call(() => this.#redis.tandemRenewSlots(keys.length, ...keys, this.#slotTtlMs, ...ids));
  }

  async #call<T>(command: () => Promise<T>): Promise<T | null> {
    if (this.#redis.status !== 'ready') return this.#answered(false);
    try {
      const result = await command();
      this.#answered(true);
      return result;
    } catch (error) {
      return this.#answered(false, error);
    }
  }

  /** Logs the changes between counting in Redis and counting on this node. */
  #answered(reachable: true): void;
  #answered(reachable: false, error?: unknown): null;
  #answered(reachable: boolean, error?: unknown): null | undefined {
    if (reachable === this.#reachable) return reachable ? undefined : null;
    this.#reachable = reachable;
    if (reachable) this.#logger.info('redis is back: per-user limits are counted across nodes again');
    else this.#logger.warn('redis does not answer: per-user limits are counted on this node', { err: error ?? new Error('not connected') });
    return reachable ? undefined : null;
  }
}
