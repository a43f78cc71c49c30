import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
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
