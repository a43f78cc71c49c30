/**
 * Where a commit's CPU goes: runs record mutations through the tRPC caller on a fresh
 * in-memory PGlite and reports, per mutation, the trips into the database engine, the
 * CPU spent inside PGlite and the CPU spent in total (the rest is Prisma, tRPC and Tandem);
 * `--sql` lists the statements.
 *
 *   npx tsx bench/commit-probe.ts [count=300] [--sql] [--gap ms]
 *   PROBE_DATA_DIR=/tmp/somewhere npx tsx bench/commit-probe.ts   # a PGlite folder on disk instead of memory
 *
 * `--gap 10` waits 10 ms after each mutation, as a server sees them at 100 changes/s: a lone
 * commit after an idle gap costs more than one of a back-to-back run (cold caches, nothing shared).
 */
import { PGlite } from '@electric-sql/pglite';
import { createApp } from '../src/server/bootstrap.ts';
import { createContextInner } from '../src/server/context.ts';
import { seedDemoData, DEMO_LOGINS } from '../src/server/db/seed.ts';
import { createLogger } from '../src/server/logger.ts';
import { appRouter } from '../src/server/routers/_app.ts';
import { createCallerFactory } from '../src/server/trpc.ts';

const count = Number(process.argv.find((arg, index) => /^\d+$/.test(arg) && process.argv[index - 1] !== '--gap') ?? 300);
const showSql = process.argv.includes('--sql');
const gapAt = process.argv.indexOf('--gap');
const gapMs = gapAt >= 0 ? Number(process.argv[gapAt + 1]) : 0;

let trips = 0;
let insideUs = 0;
const seen = new Map<string, number>();
// Every message to the engine goes through here: the six per statement of PGlite's own
// `query`, the one of the pipelined statements (src/server/db/pglite-pipeline.ts), BEGIN and COMMIT.
const execProtocolStream = PGlite.prototype.execProtocolStream;
PGlite.prototype.execProtocolStream = async function (this: PGlite, message: Uint8Array, options?: object) {
  trips++;
  if (showSql) {
    // The SQL of a Parse ('P') or simple Query ('Q') message, for the listing.
    const text = Buffer.from(message).toString('utf8');
    const sql =
      message[0] === 0x50 || message[0] === 0x51
        ? text
            .slice(message[0] === 0x50 ? 6 : 5)
            .split('\0')[0]!
            .replace(/\s+/g, ' ')
            .slice(0, 140)
        : `(${String.fromCharCode(message[0]!)} message)`;
    seen.set(sql, (seen.get(sql) ?? 0) + 1);
  }
  const start = process.cpuUsage();
  try {
    return await execProtocolStream.call(this, message, options);
  } finally {
    const used = process.cpuUsage(start);
    insideUs += used.user + used.system;
  }
} as typeof execProtocolStream;

const app = await createApp(
  {
    DATA_DIR: process.env.PROBE_DATA_DIR ?? 'memory://',
    TOKEN_SECRET: 'probe-secret-probe-secret-probe-secret',
    TOKEN_TTL_SECONDS: 3600,
    SEED_DEMO: false,
    SCHEDULER_INTERVAL_MS: 3_600_000,
    MUTATIONS_PER_SECOND_PER_CONNECTION: 1e6,
    MUTATIONS_PER_SECOND_PER_USER: 1e6,
    QUERY_COST_PER_SECOND_PER_CONNECTION: 1e6,
    QUERY_COST_PER_SECOND_PER_USER: 1e6,
  },
  createLogger('silent'),
);
await seedDemoData(app.deps, { perModule: 5 });
const user = await app.deps.db.user.findFirstOrThrow({ where: { email: DEMO_LOGINS[0].email } });
const token = (await app.deps.sessions.signIn(user)).token;
const caller = createCallerFactory(appRouter)(await createContextInner(app.deps, token));

async function measure(name: string, run: (i: number) => Promise<unknown>) {
  for (let i = 0; i < 30; i++) await run(i); // warm-up: JIT, plans, caches
  trips = 0;
  insideUs = 0;
  seen.clear();
  const start = process.cpuUsage();
  const wall = performance.now();
  for (let i = 0; i < count; i++) {
    await run(i);
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const used = process.cpuUsage(start);
  const cpuMs = (used.user + used.system) / 1000 / count;
  const dbMs = insideUs / 1000 / count;
  console.log(
    `${name.padEnd(16)} ${(count / ((performance.now() - wall) / 1000)).toFixed(0).padStart(5)}/s  cpu ${cpuMs.toFixed(2)} ms  ` +
      `in PGlite ${dbMs.toFixed(2)} ms  rest ${(cpuMs - dbMs).toFixed(2)} ms  trips into PGlite ${(trips / count).toFixed(1)}`,
  );
  if (showSql) for (const [sql, n] of seen) console.log(`   ${(n / count).toFixed(1)}× ${sql}`);
}

// With --gap: what the waiting alone costs (timers, the server's own periodic work), to subtract.
if (gapMs > 0) await measure('(no call)', () => Promise.resolve());
const lead = await caller.leads.create({ name: 'Probe', source: 'web' } as never);
let version = (lead as { version: number }).version;
await measure('leads.create', (i) => caller.leads.create({ name: `Probe ${i}`, source: 'web' } as never));
// As the fan-out benchmark sends them: with an idempotencyKey (looked up, then kept with the result).
await measure('leads.create+key', (i) => caller.leads.create({ name: `Keyed ${i}`, idempotencyKey: `probe-${process.pid}-${i}-${Math.random()}` } as never));
await measure('leads.update', async (i) => {
  const updated = (await caller.leads.update({ id: (lead as { id: string }).id, expectedVersion: version, patch: { name: `P ${i}` } } as never)) as { version: number };
  version = updated.version;
});
// A dispatcher's job moving along: a status change may be a cancellation, which moves its
// assignee's hours (load:updated), so it takes the general commit path; a title does not.
const job = (await caller.jobs.create({ title: 'Probe job', assigneeId: user.id, scheduledAt: new Date().toISOString(), estimatedHours: 2 } as never)) as {
  id: string;
  version: number;
};
let jobVersion = job.version;
await measure('jobs.update title', async (i) => {
  jobVersion = ((await caller.jobs.update({ id: job.id, expectedVersion: jobVersion, patch: { title: `Job ${i}` } } as never)) as { version: number }).version;
});
await measure('jobs.update status', async (i) => {
  const status = i % 2 ? 'scheduled' : 'in_progress';
  jobVersion = ((await caller.jobs.update({ id: job.id, expectedVersion: jobVersion, patch: { status } } as never)) as { version: number }).version;
});
// Moved to another day: the general path, with the assignee's load for the week(s) it touches (load:updated).
const day = 86_400_000;
await measure('jobs.update when', async (i) => {
  const scheduledAt = new Date(Date.now() + (i % 2) * day).toISOString();
  jobVersion = ((await caller.jobs.update({ id: job.id, expectedVersion: jobVersion, patch: { scheduledAt } } as never)) as { version: number }).version;
});
await measure('leads.byId', () => caller.leads.byId({ id: (lead as { id: string }).id } as never));
await app.close();
