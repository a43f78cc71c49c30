/**
 * What an idle Tandem server costs: its CPU per second with N subscribed connections and
 * no changes, by the second, and with a profile when asked. At a low rate of changes this
 * fixed cost is spread over few deliveries (the 10 × 100 layout at 10,000/s).
 *
 *   npx tsx bench/idle-probe.ts [connections=1000] [seconds=20] [--profile DIR] [--rate changes/s]
 *
 * With `--rate`, the load generator commits changes at that rate meanwhile (each is delivered to every subscriber of its org) (as a fan-out rung
 * does), so the split by thread shows where a busy server's CPU goes outside the main thread.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpuMs, loadgenOrgs, prepareTandemDatabase, startLoadGen, startTandem } from './harness.ts';

/** CPU ticks (user, system) of each of the process's threads, by thread name and id (the main thread's id is the pid). */
function threadTicks(pid: number): Map<string, [number, number]> {
  const byName = new Map<string, [number, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = `${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}${tid === String(pid) ? ' (main)' : `/${tid}`}`;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [user, system] = byName.get(name) ?? [0, 0];
    byName.set(name, [user + Number(fields[11]), system + Number(fields[12])]);
  }
  return byName;
}

const [connections = 1000, seconds = 20] = process.argv
  .slice(2)
  .filter((arg) => /^\d+$/.test(arg))
  .map(Number);
const profileAt = process.argv.indexOf('--profile');
const profileDir = profileAt >= 0 ? process.argv[profileAt + 1] : undefined;
const rateAt = process.argv.indexOf('--rate');
const rate = rateAt >= 0 ? Number(process.argv[rateAt + 1]) : 0;
const orgs = 10;
const database = await prepareTandemDatabase(orgs);
const server = await startTandem(database.env, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
const loadgen = await startLoadGen((line) => console.log(`  load generator: ${line}`));
try {
  await loadgen.call({
    cmd: 'connect',
    target: { kind: 'tandem', url: server.url },
    orgs: loadgenOrgs(database),
    subscribersPerOrg: Math.ceil(connections / orgs),
    concurrency: 200,
  });
  // The connect burst's own work settles first.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const perSecond: number[] = [];
  const threadsBefore = threadTicks(server.pid);
  const step = rate > 0 ? loadgen.call({ cmd: 'step', rate, durationMs: seconds * 1_000, settleMs: 0 }) : undefined;
  for (let i = 0; i < seconds; i++) {
    const before = cpuMs(server.pid);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    perSecond.push(cpuMs(server.pid) - before);
  }
  const total = perSecond.reduce((sum, ms) => sum + ms, 0);
  await step;
  const threads = [...threadTicks(server.pid)]
    .map(([name, [user, system]]) => {
      const [user0, system0] = threadsBefore.get(name) ?? [0, 0];
      return user - user0 + system - system0 > 0 ? `${name} user ${user - user0} system ${system - system0}` : '';
    })
    .filter(Boolean);
  console.log(`CPU ticks (1/100 s) by thread over ${seconds} s: ${threads.join('; ')}`);
  const what = rate > 0 ? `${connections} subscribed connections at ${rate} changes/s` : `${connections} idle subscribed connections`;
  console.log(`${what}: server CPU ${(total / seconds).toFixed(1)} ms/s (by second: ${perSecond.join(' ')})`);
} finally {
  await loadgen.call({ cmd: 'close' }).catch(() => {});
  await loadgen.stop();
  await server.stop();
  database.cleanup();
}
