import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { PublicUser } from '../../src/shared/auth.ts';
import { createApp, type App, type AppConfig } from '../../src/server/bootstrap.ts';
import { createContextInner } from '../../src/server/context.ts';
import { DEMO_LOGINS, seedDemoData } from '../../src/server/db/seed.ts';
import { createLogger } from '../../src/server/logger.ts';
import { appRouter } from '../../src/server/routers/_app.ts';
import { createCallerFactory } from '../../src/server/trpc.ts';

/** The tests' token secret, for signing tokens with other lifetimes. */
export const TEST_TOKEN_SECRET = 'test-secret-test-secret-test-secret!!';

const createCaller = createCallerFactory(appRouter);
export type Caller = ReturnType<typeof createCaller>;

export type DemoEmail = (typeof DEMO_LOGINS)[number]['email'];

export interface TestApp extends AsyncDisposable {
  app: App;
  deps: App['deps'];
  users: Record<DemoEmail, PublicUser>;
  /** A tRPC caller acting as this user (the same context the servers build). */
  caller(email: DemoEmail, options?: { signal?: AbortSignal }): Promise<Caller>;
  tokenFor(email: DemoEmail): Promise<string>;
}

/**
 * In the `postgres` test project: a new database of its own in the project's PostgreSQL
 * server. Elsewhere: undefined, and the app runs on a fresh in-memory PGlite.
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

/** A fresh migrated database with the three demo users and `perModule` records per module per org (default none). */
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
  const databaseUrl = await createPostgresDatabase();
  const app = await createApp(
    {
      DATA_DIR: 'memory://',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      TOKEN_TTL_SECONDS: 3600,
      SEED_DEMO: false,
      // Due work (missed calls, reminders, alerts) would change a test's data at a time of its own: tests that want it set this.
      SCHEDULER_INTERVAL_MS: 3_600_000,
      ...config,
    },
    createLogger('silent'),
  );
  await seedDemoData(app.deps, { perModule, communications });
  const rows = await app.deps.db.user.findMany({ include: { org: true } });
  const users = Object.fromEntries(
    rows.map((row) => [row.email, { id: row.id, orgId: row.orgId, orgName: row.org.name, email: row.email, name: row.name, role: row.role }]),
  ) as Record<DemoEmail, PublicUser>;
  const tokenFor = async (email: DemoEmail) => (await app.deps.tokens.sign({ userId: users[email].id, orgId: users[email].orgId })).token;
  return {
    app,
    deps: app.deps,
    users,
    tokenFor,
    async caller(email, options) {
      return createCaller(await createContextInner(app.deps, await tokenFor(email)), options);
    },
    async [Symbol.asyncDispose]() {
      await app.close();
    },
  };
}
