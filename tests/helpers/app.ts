import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { PublicUser } from '../../src/shared/auth.ts';
import { createApp, type App, type AppConfig } from '../../src/server/bootstrap.ts';
import type { EventBus } from '../../src/server/bus/types.ts';
import { createContextInner } from '../../src/server/context.ts';
import { type DEMO_LOGINS, seedDemoData } from '../../src/server/db/seed.ts';
import { createLogger } from '../../src/server/logger.ts';
import { appRouter } from '../../src/server/routers/_app.ts';
import { createCallerFactory } from '../../src/server/trpc.ts';
import { startRedis, type RedisServer } from './redis.ts';

/** The tests' token secret, for signing tokens with other lifetimes. */
export const TEST_TOKEN_SECRET = 'test-secret-test-secret-test-secret!!';

const createCaller = createCallerFactory(appRouter);
export type Caller = ReturnType<typeof createCaller>;

export type DemoEmail = (typeof DEMO_LOGINS)[number]['email'];

export interface TestApp extends AsyncDisposable {
  /** The first node (the only one outside the `multinode` project). */
  app: App;
  /**
   * The first node's dependencies. With several nodes, `bus.listenerCount()` counts the
   * listeners of every node, so a leak test still means "no listener left anywhere".
   */
  deps: App['deps'];
  /** Every node: one, or two on one PostgreSQL database and one Redis in the `multinode` project. */
  apps: readonly App[];
  users: Record<DemoEmail, PublicUser>;
  /**
   * A tRPC caller acting as this user (the same context the servers build). With several
   * nodes, each call takes the next node's dependencies in turn (A, B, A, …).
   */
  caller(email: DemoEmail, options?: { signal?: AbortSignal }): Promise<Caller>;
  tokenFor(email: DemoEmail): Promise<string>;
}

/**
 * In the `postgres` and `multinode` test projects: a new database of its own in the
 * project's PostgreSQL server. Elsewhere: undefined, and the app runs on a fresh in-memory PGlite.
 */
async function createPostgresDatabase(): Promise<string | undefined> {
  const serverUrl = inject('postgresUrl');
  if (!serverUrl) return undefined;
  const name = `tandem_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return serverUrl.replace(/\/[^/]*$/, `/${name}`);
}

/** How many nodes each test app runs: 2 in the `multinode` project (see multinode-setup.ts), else 1. */
export function testNodeCount(): number {
  return inject('testNodes') ?? 1;
}

/**
 * The first node's bus as the tests see it: publishing and subscribing are the first
 * node's, `listenerCount` adds up every node's (so a leak anywhere is seen).
 */
function countingEveryNode(first: EventBus, all: readonly EventBus[]): EventBus {
  return new Proxy(first, {
    get(target, property) {
      if (property === 'listenerCount') return (orgId?: string) => all.reduce((sum, bus) => sum + bus.listenerCount(orgId), 0);
      const value: unknown = Reflect.get(target, property, target);
      // Bound to the real bus: its methods read private fields, which a proxy receiver does not have.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function readUsers(app: App): Promise<Record<DemoEmail, PublicUser>> {
  const rows = await app.deps.db.user.findMany({ include: { org: true } });
  return Object.fromEntries(rows.map((row) => [row.email, { id: row.id, orgId: row.orgId, orgName: row.org.name, email: row.email, name: row.name, role: row.role }])) as Record<
    DemoEmail,
    PublicUser
  >;
}

/**
 * A fresh migrated database with the three demo users and `perModule` records per module per org (default none).
 *
 * In the `multinode` project: two nodes on that database and on a Redis server of this
 * test app's own (BUS=redis; a Redis per app keeps files running in parallel apart, since
 * pub/sub channels ignore Redis database numbers). The second node starts once the first
 * has applied the migrations and let go of Prisma's migration lock.
 */
export async function createTestApp({
  perModule = 0,
  communications = false,
  config = {},
}: {
  perModule?: number;
  /** Also seed the demo conversations, a missed call and appointments starting soon (needs `perModule` > 0). */
  communications?: boolean;
  config?: Partial<AppConfig>;
} = {}): Promise<TestApp> {
  const nodeCount = testNodeCount();
  const databaseUrl = await createPostgresDatabase();
  if (nodeCount > 1 && !databaseUrl) throw new Error('Several test nodes need a shared PostgreSQL database (the multinode project provides postgresUrl)');
  const apps: App[] = [];
  let redis: RedisServer | undefined;
  let users: Record<DemoEmail, PublicUser>;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const app of [...apps].reverse()) await app.close();
    await redis?.[Symbol.asyncDispose]();
  };
  try {
    redis = nodeCount > 1 ? await startRedis() : undefined;
    const appConfig: AppConfig = {
      DATA_DIR: 'memory://',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...(redis ? { BUS: 'redis' as const, REDIS_URL: redis.url } : {}),
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      TOKEN_TTL_SECONDS: 3600,
      SEED_DEMO: false,
      // Due work (missed calls, reminders, alerts) would change a test's data at a time of its own: tests that want it set this.
      SCHEDULER_INTERVAL_MS: 3_600_000,
      ...config,
    };
    apps.push(await createApp(appConfig, createLogger('silent')));
    await seedDemoData(apps[0]!.deps, { perModule, communications });
    while (apps.length < nodeCount) apps.push(await createApp(appConfig, createLogger('silent')));
    users = await readUsers(apps[0]!);
  } catch (error) {
    await close();
    throw error;
  }
  const app = apps[0]!;
  const tokenFor = async (email: DemoEmail) => (await app.deps.sessions.signIn(users[email])).token;
  let callers = 0;
  return {
    app,
    deps:
      apps.length > 1
        ? {
            ...app.deps,
            bus: countingEveryNode(
              app.deps.bus,
              apps.map((each) => each.deps.bus),
            ),
          }
        : app.deps,
    apps,
    users,
    tokenFor,
    async caller(email, options) {
      const node = apps[callers++ % apps.length]!;
      return createCaller(await createContextInner(node.deps, await tokenFor(email)), options);
    },
    [Symbol.asyncDispose]: close,
  };
}
