/**
 * Micro-benchmark of the mutation path's limit check (issue 18: should the per-user and
 * per-connection buckets move onto rate-limiter-flexible?). `checkMutation` of
 * src/server/limits.ts against the same check written with rate-limiter-flexible
 * (RateLimiterMemory; with Redis, RateLimiterRedis against the project's Lua token
 * bucket), in one process, alternating rounds; the ratio is what to read. Limits are
 * high enough that every call passes (the common case).
 *
 *   npx tsx bench/limits.ts [calls=200000] [rounds=3]      (Redis rounds need redis-server on PATH)
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { createLimits, defaultLimits } from '../src/server/limits.ts';
import { RedisLimitStore } from '../src/server/limits/redis.ts';
import { createLogger } from '../src/server/logger.ts';

const [calls = 200_000, rounds = 3] = process.argv.slice(2).map(Number);
const RATE = 1e9;
const connections = Array.from({ length: 1_000 }, (_, i) => `ws-${i}`);
const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);

async function time(label: string, n: number, check: (connectionId: string, userId: string) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) await check(connections[i % connections.length]!, users[i % users.length]!);
  const ns = ((performance.now() - started) * 1e6) / n;
  console.log(`  ${label.padEnd(44)} ${ns.toFixed(0).padStart(7)} ns/call`);
  return ns;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

async function memoryRounds() {
  const config = { ...defaultLimits, mutationsPerSecondPerConnection: RATE, mutationsPerSecondPerUser: RATE };
  const today = createLimits(config);
  // The closest rate-limiter-flexible shape: a fixed window of 2 s holding the bucket's burst (twice the rate).
  const perConnection = new RateLimiterMemory({ points: RATE * 2, duration: 2 });
  const perUser = new RateLimiterMemory({ points: RATE * 2, duration: 2 });
  const flexible = async (connectionId: string, userId: string) => {
    await perConnection.consume(connectionId);
    await perUser.consume(userId);
  };
  const results = { today: [] as number[], flexible: [] as number[] };
  console.log(`memory, ${calls} calls per round`);
  for (let round = 0; round < rounds; round++) {
    results.today.push(await time('checkMutation (limits.ts RateLimiter)', calls, (c, u) => today.checkMutation(c, u)));
    results.flexible.push(await time('RateLimiterMemory × 2', calls, flexible));
  }
  return results;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function redisRounds() {
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const spawned = await new Promise<boolean>((resolve) => {
    redis.once('error', () => resolve(false));
    redis.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('Ready to accept') && resolve(true));
  });
  if (!spawned) return undefined;
  const store = new RedisLimitStore({ url: `redis://127.0.0.1:${port}`, logger: createLogger('silent') });
  await store.start();
  try {
    const config = { ...defaultLimits, mutationsPerSecondPerConnection: RATE, mutationsPerSecondPerUser: RATE };
    const today = createLimits(config, store);
    const perConnection = new RateLimiterMemory({ points: RATE * 2, duration: 2 });
    const perUserMemory = new RateLimiterMemory({ points: RATE * 2, duration: 2 });
    const perUser = new RateLimiterRedis({
      storeClient: store.client,
      keyPrefix: 'bench',
      points: RATE * 2,
      duration: 2,
      rejectIfRedisNotReady: true,
      insuranceLimiter: perUserMemory,
    });
    const flexible = async (connectionId: string, userId: string) => {
      await perConnection.consume(connectionId);
      await perUser.consume(userId);
    };
    const n = Math.max(1_000, Math.floor(calls / 10));
    const results = { today: [] as number[], flexible: [] as number[] };
    console.log(`redis, ${n} sequential calls per round`);
    for (let round = 0; round < rounds; round++) {
      results.today.push(await time('checkMutation (Lua token bucket)', n, (c, u) => today.checkMutation(c, u)));
      results.flexible.push(await time('RateLimiterMemory + RateLimiterRedis', n, flexible));
    }
    await today.close();
    return results;
  } finally {
    redis.kill('SIGKILL');
  }
}

const memory = await memoryRounds();
const redis = await redisRounds();
console.log('\nmedians (ns/call):');
console.log(
  `  memory: today ${median(memory.today).toFixed(0)}, rate-limiter-flexible ${median(memory.flexible).toFixed(0)} (×${(median(memory.flexible) / median(memory.today)).toFixed(2)})`,
);
if (redis)
  console.log(
    `  redis:  today ${median(redis.today).toFixed(0)}, rate-limiter-flexible ${median(redis.flexible).toFixed(0)} (×${(median(redis.flexible) / median(redis.today)).toFixed(2)})`,
  );
else console.log('  redis:  redis-server not found, not measured');
