import { existsSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const hasPostgres = existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').length > 0;
const runPostgres = hasPostgres || process.env.CI === 'true';
if (!runPostgres) {
  console.warn('PostgreSQL server binaries not found: the `postgres` test project is left out (install `postgresql`; CI always runs it).');
}

/** The suites that touch the database run a second time against a real PostgreSQL server. */
const databaseSuites = ['tests/records.test.ts', 'tests/subscriptions.test.ts', 'tests/realtime.test.ts', 'tests/concurrency.test.ts', 'tests/idempotency.test.ts', 'tests/retention.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true as const, test: { name: 'pglite', include: ['tests/**/*.test.ts'] } },
      ...(runPostgres
        ? [{ extends: true as const, test: { name: 'postgres', include: databaseSuites, globalSetup: ['tests/helpers/postgres-setup.ts'] } }]
        : []),
    ],
    coverage: {
      provider: 'v8',
      include: ['src/server/**/*.ts', 'src/shared/**/*.ts'],
      // Process entry points: exercised by starting the real process, which v8 coverage of the test runner does not see.
      exclude: ['src/server/main.ts', 'src/server/db/migrate-cli.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 80, branches: 80 },
    },
  },
});
