import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import { leftOutNeeds, SKIP_VARIABLE } from './scripts/test-machine.mjs';

/**
 * `npm test` first runs scripts/test-machine.mjs, which installs Chromium, the PostgreSQL server
 * and redis-server or stops, so every project and file runs. The escape hatch: with
 * TANDEM_SKIP_SYSTEM_CHECK=1 (ignored when CI=true), what needs a missing program is left out
 * here instead, and the script and this config say so. Otherwise nothing is left out silently:
 * a missing program fails its tests with the command that installs it.
 */
const missing = leftOutNeeds();
const runPostgres = !missing.includes('postgresql');
const runMultinode = runPostgres && !missing.includes('redis-server');
/** Files of the `pglite` project that start a program of their own. */
const leftOut = [
  ...(missing.includes('chromium') ? ['tests/e2e/**'] : []),
  ...(missing.includes('postgresql') || missing.includes('redis-server') ? ['tests/multinode.test.ts', 'tests/multinode-presence.test.ts'] : []),
  ...(missing.includes('postgresql') ? ['tests/outbox-two-nodes.test.ts'] : []),
  ...(missing.includes('redis-server') ? ['tests/session-channel.test.ts'] : []),
  ...(missing.includes('rabbitmq-server') ? ['tests/rabbitmq*.test.ts'] : []),
];
// Vitest evaluates this file again for each inline project: say it once per run.
const said = globalThis as { tandemLeftOutSaid?: boolean };
if (missing.length > 0 && !said.tandemLeftOutSaid) {
  said.tandemLeftOutSaid = true;
  const projects = [...(runPostgres ? [] : ['postgres']), ...(runMultinode ? [] : ['multinode'])].map((name) => `project ${name}`);
  const redisTests = missing.includes('redis-server') ? ['the Redis tests of tests/limits.test.ts'] : [];
  console.warn(`${SKIP_VARIABLE}: ${missing.join(', ')} not found, left out: ${[...projects, ...leftOut, ...redisTests].join(', ')}.`);
}

/**
 * Component tests (`*.test.tsx`) run under jsdom (26: the last that runs on Node 20; 27+ needs
 * Node 22). Where it does not load they are left out with a warning, except in CI.
 */
const jsdomLoads = (() => {
  try {
    createRequire(import.meta.url)('jsdom');
    return true;
  } catch {
    return false;
  }
})();
if (!jsdomLoads && process.env.CI === 'true') throw new Error('jsdom does not load: the component tests cannot run (CI runs every suite)');
if (!jsdomLoads) {
  console.warn(`jsdom does not load on Node ${process.versions.node}: the component tests (tests/**/*.test.tsx) are left out (jsdom 26 supports Node 20).`);
}

/**
 * The suites that touch the database run a second time against a real PostgreSQL server,
 * and a third time on two nodes sharing that server and a Redis (project `multinode`:
 * callers and clients of each test alternate between the nodes).
 */
const databaseSuites = [
  'tests/records.test.ts',
  'tests/attachments.test.ts',
  'tests/history.test.ts',
  'tests/teams.test.ts',
  'tests/subscriptions.test.ts',
  'tests/realtime.test.ts',
  'tests/concurrency.test.ts',
  'tests/idempotency.test.ts',
  'tests/retention.test.ts',
  'tests/tokens.test.ts',
  'tests/merge.test.ts',
  'tests/comms.test.ts',
  'tests/alerts.test.ts',
  'tests/replay-cache.test.ts',
  'tests/one-statement.test.ts',
  'tests/commit-strategies.test.ts',
  'tests/group-commit.test.ts',
  'tests/logins.test.ts',
  'tests/control-characters.test.ts',
  'tests/sessions.test.ts',
  'tests/team.test.ts',
  'tests/carriers.test.ts',
  'tests/whatsapp.test.ts',
  'tests/rabbitmq.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true as const,
        test: {
          name: 'pglite',
          include: ['tests/**/*.test.ts', ...(jsdomLoads ? ['tests/**/*.test.tsx'] : [])],
          exclude: [...configDefaults.exclude, ...leftOut],
          // Read by tests that leave out part of a file (tests/helpers/redis.ts: isRedisLeftOut).
          env: { TANDEM_LEFT_OUT: missing.join(' ') },
        },
      },
      ...(runPostgres ? [{ extends: true as const, test: { name: 'postgres', include: databaseSuites, globalSetup: ['tests/helpers/postgres-setup.ts'] } }] : []),
      ...(runMultinode
        ? [
            {
              extends: true as const,
              test: {
                name: 'multinode',
                include: databaseSuites,
                globalSetup: ['tests/helpers/postgres-setup.ts', 'tests/helpers/multinode-setup.ts'],
                // Each file's second node waits about 10 s for the first to let go of Prisma's migration
                // lock (see waitForMigrationLockRelease): idle time, so more files run at once than there
                // are cores. A per-project worker count needs a group of its own: it runs after the others.
                maxWorkers: Math.max(3, availableParallelism() - 1),
                sequence: { groupOrder: 1 },
              },
            },
          ]
        : []),
    ],
    coverage: {
      provider: 'v8',
      // The client library (the typed client and its link) is measured with the server. The React
      // app (src/client/web/) is left out: most of it runs in Chromium (tests/e2e), where the
      // runner's v8 coverage does not see it, so its figure would say nothing (about 40 %).
      include: ['src/server/**/*.ts', 'src/shared/**/*.ts', 'src/client/*.ts', 'src/client/link/**/*.ts'],
      // Process entry points: exercised by starting the real process, which v8 coverage of the test runner does not see.
      exclude: ['src/server/main.ts', 'src/server/db/migrate-cli.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 80, branches: 80 },
    },
  },
});
