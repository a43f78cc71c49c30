import type { PublicUser } from '../../src/shared/auth.ts';
import { createApp, type App } from '../../src/server/bootstrap.ts';
import { createContextInner } from '../../src/server/context.ts';
import { DEMO_LOGINS, seedDemoData } from '../../src/server/db/seed.ts';
import { createLogger } from '../../src/server/logger.ts';
import { appRouter } from '../../src/server/routers/_app.ts';
import { createCallerFactory } from '../../src/server/trpc.ts';

export type DemoEmail = (typeof DEMO_LOGINS)[number]['email'];

export interface TestApp extends AsyncDisposable {
  app: App;
  deps: App['deps'];
  users: Record<DemoEmail, PublicUser>;
  /** A tRPC caller acting as this user (the same context the servers build). */
  caller(email: DemoEmail): Promise<ReturnType<ReturnType<typeof createCallerFactory<typeof appRouter>>>>;
  tokenFor(email: DemoEmail): Promise<string>;
}

/** A fresh in-memory PGlite, migrated, with the three demo users and `perModule` records per module per org (default none). */
export async function createTestApp({ perModule = 0 } = {}): Promise<TestApp> {
  const app = await createApp(
    { DATA_DIR: 'memory://', TOKEN_SECRET: 'test-secret-test-secret-test-secret!!', TOKEN_TTL_SECONDS: 3600, SEED_DEMO: false },
    createLogger('silent'),
  );
  await seedDemoData(app.deps, { perModule });
  const rows = await app.deps.db.user.findMany({ include: { org: true } });
  const users = Object.fromEntries(
    rows.map((row) => [row.email, { id: row.id, orgId: row.orgId, orgName: row.org.name, email: row.email, name: row.name, role: row.role }]),
  ) as Record<DemoEmail, PublicUser>;
  const createCaller = createCallerFactory(appRouter);
  const tokenFor = async (email: DemoEmail) => (await app.deps.tokens.sign({ userId: users[email].id, orgId: users[email].orgId })).token;
  return {
    app,
    deps: app.deps,
    users,
    tokenFor,
    async caller(email) {
      return createCaller(await createContextInner(app.deps, await tokenFor(email)));
    },
    async [Symbol.asyncDispose]() {
      await app.close();
    },
  };
}
