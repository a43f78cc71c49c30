/**
 * What an idle Tandem server costs: its CPU per second with N subscribed connections and
 * no changes, by the second, and with a profile when asked. At a low rate of changes this
 * fixed cost is spread over few deliveries (the 10 × 100 layout at 10,000/s).
 *
 *   npx tsx bench/idle-probe.ts [connections=1000] [seconds=20] [--profile DIR]
 */
import { cpuMs, prepareTandemDatabase, startLoadGen, startTandem } from './harness.ts';

const [connections = 1000, seconds = 20] = process.argv.slice(2).filter((arg) => /^\d+$/.test(arg)).map(Number);
const profileAt = process.argv.indexOf('--profile');
const profileDir = profileAt >= 0 ? process.argv[profileAt + 1] : undefined;
const orgs = 10;
const database = await prepareTandemDatabase(orgs);
const server = await startTandem(database.env, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
const loadgen = await startLoadGen((line) => console.log(`  load generator: ${line}`));
try {
  await loadgen.call({
    cmd: 'connect',
    target: { kind: 'tandem', url: server.url },
    orgs: database.orgs.map((org) => ({ subscriberTokens: [org.token], senderToken: org.token })),
    subscribersPerOrg: Math.ceil(connections / orgs),
    concurrency: 200,
  });
  // The connect burst's own work settles first.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const perSecond: number[] = [];
  for (let i = 0; i < seconds; i++) {
    const before = cpuMs(server.pid);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    perSecond.push(cpuMs(server.pid) - before);
  }
  const total = perSecond.reduce((sum, ms) => sum + ms, 0);
  console.log(`${connections} idle subscribed connections: server CPU ${(total / seconds).toFixed(1)} ms/s (by second: ${perSecond.join(' ')})`);
} finally {
  await loadgen.call({ cmd: 'close' }).catch(() => {});
  await loadgen.stop();
  await server.stop();
  database.cleanup();
}
