/**
 * `npm run bench`: Tandem and the baselines side by side, in one run, on this machine.
 *
 *   npm run bench -- [--quick] [--scenario fanout,memory,storm,mutation|all|soak]
 *                    [--contestants tandem,ws,ws-batched,socketio,trpc-ee]
 *                    [--connections 1000] [--memory-connections 10000] [--storm-connections 5000]
 *                    [--step-ms 4000] [--rates 2000,5000,… (deliveries/s)] [--layouts 10x100,1x1000]
 *                    [--profile] [--out bench/results] [--no-docs] [--soak-minutes 60] [--storm-rate 10]
 *                    [--storm-timeout-s 240] [--merge (keep the latest run's other scenarios)]
 *                    [--repeats 1 (run each measurement N times and report medians)]
 *                    [--report-only (rewrite the reports from the latest results, run nothing)]
 *
 * Scenarios (issue 7): `fanout` = 1 (latency at rising rates, 10 orgs × 100 and 1 org × 1,000)
 * and 2 (saturation: the ladder goes on until p99 > 250 ms or delivery < 95 %); `memory` = 3;
 * `storm` = 4; `mutation` = 6; `soak` = 5 (60 minutes, only when asked for).
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase } from '../src/server/db/client.ts';
import { openPGlite } from '../src/server/db/pglite-open.ts';
import { readConfig } from '../src/server/config.ts';
import { startPostgres, type PostgresServer } from '../tests/helpers/postgres.ts';
import { startRedis } from '../tests/helpers/redis.ts';
import {
  cpuMs,
  hasTaskset,
  machineBusyMs,
  loadgenOrgs,
  prepareTandemDatabase,
  root,
  rssBytes,
  startBaseline,
  startLoadGen,
  startTandem,
  type LoadGen,
  type ServerHandle,
} from './harness.ts';
import type { Kind, StepResult } from './loadgen.ts';
import { writeReports, type BenchResults, type FanoutStep } from './report.ts';
import { freePort } from '../tests/helpers/process.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1]! : fallback;
};
const quick = flag('quick');
const allKinds: Kind[] = ['ws', 'ws-batched', 'socketio', 'trpc-ee', 'tandem'];
const contestants = option('contestants', allKinds.join(',')).split(',') as Kind[];
const scenarioOption = option('scenario', 'all');
const scenarios = new Set(scenarioOption === 'all' ? ['fanout', 'memory', 'storm', 'mutation', 'overload', 'redis-hop'] : scenarioOption.split(','));
const connections = Number(option('connections', '1000'));
const memoryConnections = Number(option('memory-connections', quick ? '1000' : '10000'));
const stormConnections = Number(option('storm-connections', quick ? '500' : '5000'));
const stepMs = Number(option('step-ms', quick ? '1000' : '4000'));
const settleMs = quick ? 1_000 : 2_000;
const outDir = path.resolve(root, option('out', 'bench/results'));
const profile = flag('profile');
// Each measurement run this many times, reported as the median: one run on a shared machine is one draw.
const repeats = Math.max(1, Math.floor(Number(option('repeats', '1'))) || 1);
const P99_LIMIT_MS = 250;
const MIN_DELIVERY = 0.95;

const started = Date.now();
function log(line: string) {
  const seconds = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  console.log(`[${seconds}s] ${line}`);
}

const results: BenchResults = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, taskset: hasTaskset },
  options: { quick, stepMs, connections, memoryConnections, stormConnections, contestants, repeats },
  fanout: [],
  saturation: [],
  memory: [],
  storm: null,
  soak: null,
  mutationPath: [],
  overload: null,
  notes: [],
};

/** `repeat 2/3: ` in log lines when there is more than one. */
const repeatTag = (repeat: number) => (repeats > 1 ? `repeat ${repeat}/${repeats}: ` : '');

/** Median of the finite values (NaN when there are none); an even count takes the mean of the middle two. */
function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (!sorted.length) return Number.NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Counts of what went wrong are added up over the repeats, never a median: a loss in any repeat must show. */
const total = (values: number[]) => values.reduce((sum, value) => sum + value, 0);

/** The value seen most often (ties: the first seen). */
function mostCommon<T>(values: T[]): T {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
}

interface Contestant {
  server: ServerHandle;
  orgs: { subscriberTokens: string[]; senderToken: string }[];
  cleanup(): void;
}

async function startContestant(kind: Kind, orgCount: number, nodeFlags: string[] = []): Promise<Contestant> {
  if (kind === 'tandem' || kind === 'tandem-iterator') {
    const database = await prepareTandemDatabase(orgCount);
    const server = await startTandem({ ...database.env, ...(kind === 'tandem-iterator' ? { WS_DIRECT_DELIVERY: 'false' } : {}) }, nodeFlags);
    return { server, orgs: loadgenOrgs(database), cleanup: database.cleanup };
  }
  const server = await startBaseline(kind);
  const orgs = Array.from({ length: orgCount }, (_, i) => ({ subscriberTokens: [`org:o${i}`], senderToken: `org:o${i}:send` }));
  return { server, orgs, cleanup: () => {} };
}

/** Offered changes per second (over all orgs) for a layout; deliveries/s = rate × subscribers per org. */
function ladder(subscribersPerOrg: number): number[] {
  // Rungs in deliveries per second, turned into changes per second.
  const deliveries = option('rates', quick ? '5000,20000,50000' : '2000,5000,10000,20000,35000,50000,75000,100000,150000,200000,250000,300000')
    .split(',')
    .map(Number);
  return deliveries.map((d) => d / subscribersPerOrg);
}

function limitOf(kind: Kind, step: FanoutStep): FanoutStep['limit'] {
  // Tandem's PGlite runs inside the server process: its commits are part of the server's CPU.
  if (step.serverCpuShare >= 0.85) return kind === 'tandem' ? 'server CPU (incl. PGlite)' : 'server CPU';
  // Commits fall behind without the core being full: the database's own pace.
  if (kind === 'tandem' && (step.acked < step.sent * 0.95 || step.ackP99 > P99_LIMIT_MS / 2)) return 'database commit rate';
  if (step.loadgenCpuShare >= 0.85) return 'load generator CPU';
  // The other engineers' processes share these 2 cores: time they take is time ours wait.
  if ((step.othersCpuShare ?? 0) >= 0.5) return 'other processes on the cores';
  return 'latency';
}

/** One climb of the ladder by one contestant: the step kept at each rung, the last that held, the one that did not. */
interface Ladder {
  steps: FanoutStep[];
  sustained?: FanoutStep;
  failed?: FanoutStep;
}

async function fanout(loadgen: LoadGen, layout: { orgs: number; perOrg: number }) {
  const name = `${layout.orgs}x${layout.perOrg}`;
  const ladders = new Map(contestants.map((kind) => [kind, [] as Ladder[]]));
  try {
    // Repeat by repeat, every contestant in each: drift in the machine's load hits them all alike.
    for (let repeat = 1; repeat <= repeats; repeat++) {
      for (const kind of contestants) ladders.get(kind)!.push(await climb(loadgen, kind, layout, repeat));
    }
  } finally {
    // The ladders that finished are reported even when a later one failed (its note says why).
    for (const [kind, runs] of ladders) if (runs.length) reportFanout(kind, name, runs);
  }
}

function reportFanout(kind: Kind, name: string, runs: Ladder[]) {
  results.fanout.push(...medianLadder(runs));
  const sustained = runs.map((run) => run.sustained?.deliveredPerSecond ?? 0);
  if (runs.length > 1)
    log(`fan-out ${name}: ${kind}: sustained ${median(sustained).toFixed(0)}/s, the median of ${runs.length} repeats (${sustained.map((s) => s.toFixed(0)).join(', ')})`);
  // Every layout: the summary has a table for each.
  results.saturation.push({
    contestant: kind,
    layout: name,
    sustainedDeliveriesPerSecond: median(sustained),
    limit: mostCommon(runs.map((run) => (run.failed ? run.failed.limit! : 'ladder top (not saturated)'))),
    cpuUsPerDeliveryAtSustained: median(runs.map((run) => run.sustained?.serverCpuUsPerDelivery ?? Number.NaN)),
    repeats: runs.length,
    sustainedByRepeat: sustained,
  });
}

/**
 * One step per rung: the median of the repeats that ran it (a ladder stops at its first failed
 * rung, so the top rungs may have fewer); missing, duplicates and errors summed. A rung holds
 * when more than half of the ladders held it (so the median sustained rate is the last rung
 * that holds); else it is marked with what most often stopped the ladders that failed it, or,
 * when none got this far, what stopped them below it.
 */
function medianLadder(runs: Ladder[]): FanoutStep[] {
  const rates = [...new Set(runs.flatMap((run) => run.steps.map((step) => step.changesPerSecond)))].sort((a, b) => a - b);
  return rates.map((rate) => {
    const ran = runs.flatMap((run) => run.steps.filter((step) => step.changesPerSecond === rate));
    const held = runs.filter((run) => run.steps.some((step) => step.changesPerSecond === rate && step.limit === null));
    const failedHere = ran.flatMap((step) => (step.limit ? [step.limit] : []));
    const stoppedBelow = runs.filter((run) => !held.includes(run)).map((run) => run.failed?.limit ?? 'latency');
    const mid = (
      key:
        | 'deliveredPerSecond'
        | 'deliveredRatio'
        | 'p50'
        | 'p99'
        | 'max'
        | 'ackP99'
        | 'firstP99'
        | 'serverCpuUsPerDelivery'
        | 'serverCpuShare'
        | 'loadgenCpuShare'
        | 'othersCpuShare'
        | 'serverRssMb',
    ) => median(ran.map((step) => step[key] ?? Number.NaN));
    const sum = (key: 'duplicates' | 'missing' | 'sent' | 'acked' | 'errors') => total(ran.map((step) => step[key]));
    return {
      ...ran[0]!,
      deliveredPerSecond: mid('deliveredPerSecond'),
      deliveredRatio: mid('deliveredRatio'),
      p50: mid('p50'),
      p99: mid('p99'),
      max: mid('max'),
      duplicates: sum('duplicates'),
      missing: sum('missing'),
      sent: sum('sent'),
      acked: sum('acked'),
      errors: sum('errors'),
      ackP99: mid('ackP99'),
      firstP99: mid('firstP99'),
      serverCpuUsPerDelivery: mid('serverCpuUsPerDelivery'),
      serverCpuShare: mid('serverCpuShare'),
      loadgenCpuShare: mid('loadgenCpuShare'),
      othersCpuShare: mid('othersCpuShare'),
      serverRssMb: mid('serverRssMb'),
      attempt: Math.max(...ran.map((step) => step.attempt ?? 1)),
      limit: held.length * 2 > runs.length ? null : mostCommon(failedHere.length ? failedHere : stoppedBelow),
      medianOf: ran.length,
      repeats: runs.length,
      // Each run's own, so a goal can be judged in every run and not only in the median.
      p99ByRepeat: ran.map((step) => step.p99),
      cpuByRepeat: ran.map((step) => step.serverCpuUsPerDelivery),
    };
  });
}

async function climb(loadgen: LoadGen, kind: Kind, layout: { orgs: number; perOrg: number }, repeat: number): Promise<Ladder> {
  const name = `${layout.orgs}x${layout.perOrg}`;
  const tag = `fan-out ${name}: ${repeatTag(repeat)}`;
  log(`${tag}${kind}: starting`);
  // Profiled once per layout: bench:profile reads the largest profile of profile/, the
  // 1-org layout's; the others go to their own folder (`npm run bench:profile -- <its file>`).
  const profDir = layout.orgs === 1 ? path.join(outDir, 'profile') : path.join(outDir, 'profile', name);
  const cpuProf = profile && repeat === 1 && kind === 'tandem' ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const contestant = await startContestant(kind, layout.orgs, cpuProf);
  const climbed: Ladder = { steps: [] };
  try {
    const connected = await loadgen.call<{ connected: number; ms: number }>({
      cmd: 'connect',
      target: { kind, url: contestant.server.url },
      orgs: contestant.orgs,
      subscribersPerOrg: layout.perOrg,
    });
    log(`${tag}${kind}: ${connected.connected} subscribed in ${(connected.ms / 1000).toFixed(1)} s`);
    // Warm-up: JIT, first queries; not reported.
    await loadgen.call({ cmd: 'step', rate: Math.min(20, Math.max(1, 1000 / layout.perOrg)), durationMs: 1_000, settleMs: 3_000 });
    for (const rate of ladder(layout.perOrg)) {
      // A failed step is run once more: on a shared machine one bad time slice should not end the ladder.
      for (let attempt = 1; attempt <= 2; attempt++) {
        const cpu0 = cpuMs(contestant.server.pid);
        const lg0 = cpuMs(loadgen.pid);
        const machine0 = machineBusyMs();
        const t0 = performance.now();
        const r = await loadgen.call<StepResult>({ cmd: 'step', rate, durationMs: stepMs, settleMs });
        const wallMs = performance.now() - t0;
        const serverCpu = cpuMs(contestant.server.pid) - cpu0;
        const loadgenCpu = cpuMs(loadgen.pid) - lg0;
        const othersCpu = Math.max(0, machineBusyMs() - machine0 - serverCpu - loadgenCpu);
        const step: FanoutStep = {
          contestant: kind,
          layout: name,
          changesPerSecond: rate,
          offeredDeliveriesPerSecond: rate * layout.perOrg,
          deliveredPerSecond: r.delivered / r.seconds,
          deliveredRatio: r.expected ? r.delivered / r.expected : 1,
          p50: r.p50,
          p99: r.p99,
          max: r.max,
          duplicates: r.duplicates,
          missing: r.missing,
          sent: r.sent,
          acked: r.acked,
          errors: r.errors,
          ackP99: r.ackP99,
          firstP99: r.firstP99,
          serverCpuUsPerDelivery: r.delivered ? (serverCpu * 1000) / r.delivered : Number.NaN,
          serverCpuShare: serverCpu / wallMs,
          loadgenCpuShare: loadgenCpu / wallMs,
          othersCpuShare: othersCpu / wallMs,
          serverRssMb: rssBytes(contestant.server.pid) / 1e6,
          limit: 'latency',
        };
        const ok = step.p99 <= P99_LIMIT_MS && step.deliveredRatio >= MIN_DELIVERY;
        step.limit = ok ? null : limitOf(kind, step);
        step.attempt = attempt;
        log(
          `${tag}${kind.padEnd(10)} ${String(step.offeredDeliveriesPerSecond).padStart(7)}/s offered → ${step.deliveredPerSecond.toFixed(0).padStart(7)}/s delivered ` +
            `(${(step.deliveredRatio * 100).toFixed(1)}%), p50 ${step.p50.toFixed(1)} ms, p99 ${step.p99.toFixed(1)} ms (first delivery ${(step.firstP99 ?? Number.NaN).toFixed(1)}, ack ${step.ackP99.toFixed(1)}), ` +
            `server ${step.serverCpuUsPerDelivery.toFixed(2)} µs/delivery, CPU server ${(step.serverCpuShare * 100).toFixed(0)}% loadgen ${(step.loadgenCpuShare * 100).toFixed(0)}% others ${((step.othersCpuShare ?? 0) * 100).toFixed(0)}%` +
            (ok ? '' : `  ✗ (${step.limit})${attempt === 1 ? ', once more' : ''}`),
        );
        if (ok || attempt === 2) climbed.steps.push(step);
        if (ok) {
          climbed.sustained = step;
          break;
        }
        if (attempt === 2) climbed.failed = step;
      }
      if (climbed.failed) break;
    }
    await loadgen.call({ cmd: 'close' });
  } finally {
    await contestant.server.stop();
    contestant.cleanup();
  }
  return climbed;
}

type MemoryEntry = BenchResults['memory'][number];

async function memory(loadgen: LoadGen) {
  const runs = new Map(contestants.map((kind) => [kind, [] as MemoryEntry[]]));
  try {
    // Interleaved like the fan-out: repeat by repeat, every contestant in each.
    for (let repeat = 1; repeat <= repeats; repeat++) {
      for (const kind of contestants) runs.get(kind)!.push(await memoryOnce(loadgen, kind, repeat));
    }
  } finally {
    for (const entries of runs.values()) if (entries.length) results.memory.push(medianMemory(entries));
  }
}

/** The median of each figure over the repeats; the connections are the fewest any repeat got, so a shortfall shows. */
function medianMemory(entries: MemoryEntry[]): MemoryEntry {
  if (entries.length === 1) return { ...entries[0]!, repeats: 1 };
  const bytesPerConnection = entries.map((entry) => entry.bytesPerConnection);
  log(
    `memory: ${entries[0]!.contestant}: ${(median(bytesPerConnection) / 1024).toFixed(1)} KB per connection, the median of ${entries.length} repeats (${bytesPerConnection.map((b) => (b / 1024).toFixed(1)).join(', ')})`,
  );
  return {
    contestant: entries[0]!.contestant,
    connections: Math.min(...entries.map((entry) => entry.connections)),
    rssBeforeMb: median(entries.map((entry) => entry.rssBeforeMb)),
    rssAfterMb: median(entries.map((entry) => entry.rssAfterMb)),
    bytesPerConnection: median(bytesPerConnection),
    connectSeconds: median(entries.map((entry) => entry.connectSeconds)),
    repeats: entries.length,
    bytesPerConnectionByRepeat: bytesPerConnection,
  };
}

async function memoryOnce(loadgen: LoadGen, kind: Kind, repeat: number): Promise<MemoryEntry> {
  const orgs = 10;
  const tag = `memory: ${repeatTag(repeat)}${kind}`;
  log(`${tag}: starting`);
  const contestant = await startContestant(kind, orgs);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = rssBytes(contestant.server.pid);
    const connected = await loadgen.call<{ connected: number; ms: number }>({
      cmd: 'connect',
      target: { kind, url: contestant.server.url },
      orgs: contestant.orgs,
      subscribersPerOrg: Math.ceil(memoryConnections / orgs),
      concurrency: 200,
    });
    // Sampled four times, 5 s apart, and the median kept: the first samples still hold the
    // connect burst's garbage, which each runtime collects at a time of its own.
    const samples: number[] = [];
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, quick ? 1_000 : 5_000));
      samples.push(rssBytes(contestant.server.pid));
    }
    const after = [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
    const entry = {
      contestant: kind,
      connections: connected.connected,
      rssBeforeMb: before / 1e6,
      rssAfterMb: after / 1e6,
      rssSamplesMb: samples.map((sample) => Math.round(sample / 1e5) / 10),
      bytesPerConnection: (after - before) / connected.connected,
      connectSeconds: connected.ms / 1000,
    };
    log(
      `${tag}: ${entry.connections} idle subscribed connections, RSS ${entry.rssBeforeMb.toFixed(0)} → ${entry.rssAfterMb.toFixed(0)} MB (median of ${entry.rssSamplesMb.join(', ')}), ${(entry.bytesPerConnection / 1024).toFixed(1)} KB per connection`,
    );
    await loadgen.call({ cmd: 'close' });
    return entry;
  } finally {
    await contestant.server.stop();
    contestant.cleanup();
  }
}

/** Tandem only: the baselines have no log to resume from. */
async function storm(loadgen: LoadGen) {
  const runs: Record<string, number>[] = [];
  try {
    for (let repeat = 1; repeat <= repeats; repeat++) runs.push(await stormOnce(loadgen, repeat));
  } finally {
    if (runs.length) results.storm = medianStorm(runs);
  }
}

/**
 * Times and reconnect attempts: the median over the repeats. Changes, deliveries and every
 * count of what went wrong: the total, so a loss in any repeat shows; clients live: the
 * fewest in any repeat.
 */
function medianStorm(runs: Record<string, number>[]): Record<string, number> {
  const totals = new Set(['changes', 'unacknowledged', 'expectedDeliveries', 'delivered', 'notCaughtUp', 'missing', 'duplicates', 'errors']);
  const storm: Record<string, number> = { repeats: runs.length };
  for (const key of Object.keys(runs[0]!)) {
    const values = runs.map((run) => run[key] ?? Number.NaN);
    storm[key] = key === 'live' ? Math.min(...values) : totals.has(key) ? total(values) : median(values);
  }
  return storm;
}

async function stormOnce(loadgen: LoadGen, repeat: number): Promise<Record<string, number>> {
  const tag = `storm: ${repeatTag(repeat)}`;
  const orgs = 10;
  const database = await prepareTandemDatabase(orgs);
  const env = { ...database.env, PORT: String(await freePort()) };
  let server = await startTandem(env);
  try {
    log(`${tag}connecting ${stormConnections} subscribers`);
    await loadgen.call({
      cmd: 'connect',
      target: { kind: 'tandem', url: server.url },
      orgs: loadgenOrgs(database),
      subscribersPerOrg: Math.ceil(stormConnections / orgs),
      resume: true,
      concurrency: 200,
    });
    // 10 changes/s = 5,000 deliveries/s to 5,000 clients: well under what one node sustains,
    // so what is measured is the storm, not a saturated server.
    const rate = Number(option('storm-rate', '10'));
    await loadgen.call({ cmd: 'storm-start', rate });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    log(`${tag}restarting the server (SIGTERM, then start on the same database and port)`);
    const down = performance.now();
    await server.stop();
    // `--profile`: the restarted server, the one the storm hits.
    server = await startTandem(env, profile && repeat === 1 ? ['--cpu-prof', `--cpu-prof-dir=${path.join(outDir, 'profile', 'storm')}`] : []);
    const restartMs = performance.now() - down;
    log(`${tag}server back after ${(restartMs / 1000).toFixed(1)} s; waiting for every client to resume`);
    const live = await loadgen.call<{
      live: number;
      of: number;
      allLiveMsAfterFirstDrop: number;
      reconnects: number;
      closedBeforeLive: Record<string, number>;
      refusals: Record<string, number>;
    }>({ cmd: 'wait-live', timeoutMs: Number(option('storm-timeout-s', '240')) * 1000 });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const end = await loadgen.call<{
      changes: number;
      unacknowledged: number;
      expectedDeliveries: number;
      delivered: number;
      notCaughtUp: number;
      missing: number;
      duplicates: number;
      errors: number;
    }>({ cmd: 'storm-stop', timeoutMs: 60_000 });
    const storm = {
      clients: live.of,
      live: live.live,
      changesPerSecond: rate,
      serverDownToUpSeconds: restartMs / 1000,
      allLiveSecondsAfterFirstDrop: live.allLiveMsAfterFirstDrop / 1000,
      reconnects: live.reconnects,
      ...end,
    };
    log(`${tag}sockets closed before their subscription went live: ${JSON.stringify(live.closedBeforeLive)}; refusals by code: ${JSON.stringify(live.refusals)}`);
    log(
      `${tag}${live.live}/${live.of} live ${(live.allLiveMsAfterFirstDrop / 1000).toFixed(1)} s after the first drop; ${end.changes} changes, ${end.delivered}/${end.expectedDeliveries} delivered, missing ${end.missing}, duplicated ${end.duplicates}`,
    );
    await loadgen.call({ cmd: 'close' });
    return storm;
  } finally {
    await server.stop();
    database.cleanup();
  }
}

type MutationPathEntry = BenchResults['mutationPath'][number];

async function mutationPath(loadgen: LoadGen) {
  const postgres = await startPostgres().catch((error: unknown) => {
    results.notes.push(`PostgreSQL server not measured: ${String(error)}`);
    return null;
  });
  const runs = new Map<string, MutationPathEntry[]>();
  try {
    // Repeat by repeat, both databases in each, as the fan-out interleaves its contestants.
    for (let repeat = 1; repeat <= repeats; repeat++) {
      for (const db of ['pglite', 'postgresql'] as const) {
        if (db === 'postgresql' && !postgres) continue;
        // Group commit on and off, side by side in the same run.
        for (const groupCommit of [true, false]) {
          const entry = await mutationPathOnce(loadgen, db, postgres, repeat, groupCommit);
          const key = `${db}:${groupCommit ? 'on' : 'off'}`;
          runs.set(key, [...(runs.get(key) ?? []), entry]);
        }
      }
    }
  } finally {
    for (const entries of runs.values()) results.mutationPath.push(medianMutationPath(entries));
    await postgres?.stop();
  }
}

/** The median of each rate and latency over the repeats; failures summed. */
function medianMutationPath(entries: MutationPathEntry[]): MutationPathEntry {
  const mid = (pick: (entry: MutationPathEntry) => number) => median(entries.map(pick));
  return {
    database: entries[0]!.database,
    groupCommit: entries[0]!.groupCommit,
    workers: entries[0]!.workers,
    stack: {
      perSecond: mid((e) => e.stack.perSecond),
      p50: mid((e) => e.stack.p50),
      p99: mid((e) => e.stack.p99),
      failures: total(entries.map((e) => e.stack.failures)),
      serverCpuMsPerCommit: mid((e) => e.stack.serverCpuMsPerCommit),
    },
    raw: { perSecond: mid((e) => e.raw.perSecond), p50: mid((e) => e.raw.p50), p99: mid((e) => e.raw.p99) },
    repeats: entries.length,
  };
}

async function mutationPathOnce(loadgen: LoadGen, db: 'pglite' | 'postgresql', postgres: PostgresServer | null, repeat: number, groupCommit: boolean): Promise<MutationPathEntry> {
  const workers = 8;
  const durationMs = quick ? 3_000 : 8_000;
  const tag = `mutation path (${db}, group commit ${groupCommit ? 'on' : 'off'}): ${repeatTag(repeat)}`;
  let databaseUrl: string | undefined;
  if (db === 'postgresql') {
    // A database of its own per run: each starts from the same empty tables.
    const name = `bench_mutations_${repeat}_${groupCommit ? 'on' : 'off'}`;
    const admin = new pg.Client({ connectionString: postgres!.url() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    databaseUrl = postgres!.url(name);
  }
  const database = await prepareTandemDatabase(workers, databaseUrl);
  // Profiled once, apart from the fan-out's: `npm run bench:profile -- <its file>`.
  const cpuProf = profile && repeat === 1 && groupCommit ? ['--cpu-prof', `--cpu-prof-dir=${path.join(outDir, 'profile', `mutation-${db}`)}`] : [];
  const server = await startTandem({ ...database.env, GROUP_COMMIT: String(groupCommit) }, cpuProf);
  let stack: { commits: number; perSecond: number; p50: number; p99: number; failures: number; recordIds: string[] };
  let serverCpu: number;
  try {
    log(`${tag}${workers} closed loops of leads.update through the stack`);
    const cpu0 = cpuMs(server.pid);
    stack = await loadgen.call({ cmd: 'mutation-path', url: server.url, tokens: database.orgs.map((org) => org.token), durationMs });
    serverCpu = cpuMs(server.pid) - cpu0;
  } finally {
    await server.stop();
  }
  // The same two statements in a raw transaction, same database, same concurrency, no Prisma.
  log(`${tag}the same statements as raw SQL`);
  const raw = await rawTransactions(db, database.env, database.orgs, stack.recordIds, workers, durationMs);
  database.cleanup();
  log(`${tag}stack ${stack.perSecond.toFixed(0)}/s (p99 ${stack.p99.toFixed(1)} ms), raw SQL ${raw.perSecond.toFixed(0)}/s (p99 ${raw.p99.toFixed(1)} ms)`);
  return {
    database: db,
    groupCommit,
    workers,
    stack: { perSecond: stack.perSecond, p50: stack.p50, p99: stack.p99, failures: stack.failures, serverCpuMsPerCommit: serverCpu / stack.commits },
    raw,
  };
}

async function rawTransactions(
  db: 'pglite' | 'postgresql',
  env: Record<string, string>,
  orgs: { orgId: string; userId: string }[],
  recordIds: string[],
  workers: number,
  durationMs: number,
) {
  const update = `UPDATE "Lead" SET score = $1, version = version + 1, "updatedAt" = now(), "updatedById" = $2 WHERE id = $3 RETURNING version`;
  const insert = `INSERT INTO "Event" ("orgId", module, action, "recordId", version, "userId", data) VALUES ($1, 'leads', 'updated', $2, $3, $4, $5)`;
  type Query = (sql: string, params: unknown[]) => Promise<{ rows: { version: number }[] }>;
  let transaction: (worker: number, body: (query: Query) => Promise<void>) => Promise<void>;
  let close: () => Promise<void>;
  if (db === 'pglite') {
    // The engine as the server runs it: its settings, where its data is.
    const config = readConfig({ ...process.env, ...env });
    const pglite = await openPGlite(path.join(env.DATA_DIR!, 'pglite'), {
      sharedBuffersMb: config.PGLITE_SHARED_BUFFERS_MB,
      optimizingCompiler: config.PGLITE_OPTIMIZING_COMPILER,
    });
    transaction = (_worker, body) => pglite.transaction((tx) => body((sql, params) => tx.query<{ version: number }>(sql, params))).then(() => undefined);
    close = () => pglite.close();
  } else {
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: workers });
    transaction = async (_worker, body) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await body((sql, params) => client.query(sql, params));
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    close = () => pool.end();
  }
  const durations: number[] = [];
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      const org = orgs[worker]!;
      const recordId = recordIds[worker]!;
      for (let n = 0; performance.now() - startedAt < durationMs; n++) {
        const t0 = performance.now();
        await transaction(worker, async (query) => {
          const { rows } = await query(update, [n % 100, org.userId, recordId]);
          await query(insert, [org.orgId, recordId, rows[0]!.version, org.userId, JSON.stringify({ score: { from: null, to: n % 100 } })]);
        });
        durations.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - startedAt) / 1000;
  await close();
  const sorted = Float64Array.from(durations).sort();
  return { perSecond: durations.length / seconds, p50: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN, p99: sorted[Math.floor(sorted.length * 0.99)] ?? Number.NaN };
}

/**
 * Scenario 5, only with `--scenario soak`: 1,000 subscribers in 5 orgs stay connected for
 * `--soak-minutes` (60) while changes flow at 20/s; every minute 50 of them are cut and
 * resume. Server RSS, heap, active handles, open file descriptors, connections and bus listeners are sampled
 * every minute; at the end every subscriber must have every change of its org, once.
 */
async function soak(loadgen: LoadGen) {
  const minutes = Number(option('soak-minutes', '60'));
  const orgs = 5;
  const database = await prepareTandemDatabase(orgs);
  const server = await startTandem(database.env);
  try {
    await loadgen.call({
      cmd: 'connect',
      target: { kind: 'tandem', url: server.url },
      orgs: loadgenOrgs(database),
      subscribersPerOrg: Math.ceil(connections / orgs),
      resume: true,
      concurrency: 100,
    });
    await loadgen.call({ cmd: 'storm-start', rate: 20 });
    const samples: NonNullable<BenchResults['soak']>['samples'] = [];
    for (let minute = 0; minute <= minutes; minute++) {
      // Sampled before this minute's cut, so the counts are the settled ones.
      if (minute > 0) await new Promise((resolve) => setTimeout(resolve, 60_000));
      const metrics = await fetch(`${server.url}/metrics`).then((response) => response.text());
      const gauge = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? Number.NaN);
      const sample = {
        minute,
        rssMb: rssBytes(server.pid) / 1e6,
        openFds: readdirSync(`/proc/${server.pid}/fd`).length,
        connections: gauge('tandem_ws_connections'),
        busListeners: gauge('tandem_subscriptions'),
        heapUsedMb: gauge('nodejs_heap_size_used_bytes') / 1e6,
        activeHandles: gauge('nodejs_active_handles_total'),
        cpuSeconds: cpuMs(server.pid) / 1000,
      };
      samples.push(sample);
      log(
        `soak: minute ${minute}/${minutes}: RSS ${sample.rssMb.toFixed(0)} MB, heap ${sample.heapUsedMb.toFixed(0)} MB, handles ${sample.activeHandles}, fds ${sample.openFds}, connections ${sample.connections}, bus listeners ${sample.busListeners}`,
      );
      if (minute > 0 && minute < minutes) await loadgen.call({ cmd: 'drop', count: 50 });
    }
    const end = await loadgen.call<Record<string, number>>({ cmd: 'storm-stop', timeoutMs: 60_000 });
    results.soak = { minutes, samples, ...end };
    log(`soak: ${end.changes} changes, missing ${end.missing}, duplicated ${end.duplicates}`);
    await loadgen.call({ cmd: 'close' });
  } finally {
    await server.stop();
    database.cleanup();
  }
}

/**
 * Overload: the sustainable commit rate is measured first (closed loops of leads.update,
 * as in the mutation path), then four times it is offered open-loop as leads.create for
 * a minute (10 s with --quick), refusals retried after their hint with the same key.
 * Judged: RSS growth, latency of accepted calls, everything answered once it stops, and
 * in the database every call exactly once.
 */
async function overload(loadgen: LoadGen) {
  const workers = 8;
  const database = await prepareTandemDatabase(workers);
  const server = await startTandem(database.env, profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(outDir, 'profile', 'overload')}`] : []);
  const tag = `ov${Date.now().toString(36)}`;
  let result: Record<string, number>;
  try {
    log('overload: measuring the sustainable commit rate (8 closed loops, 4 s)');
    const calibration = await loadgen.call<{ perSecond: number }>({ cmd: 'mutation-path', url: server.url, tokens: database.orgs.map((org) => org.token), durationMs: 4_000 });
    const rate = Math.round(calibration.perSecond * 4);
    const durationMs = quick ? 10_000 : 60_000;
    log(`overload: sustainable ${calibration.perSecond.toFixed(0)}/s; offering ${rate}/s (4×) for ${durationMs / 1000} s`);
    const memoryOf = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)`, 'm'))?.[1] ?? Number.NaN) / 1e6;
      return { heap: value('nodejs_heap_size_total_bytes'), used: value('nodejs_heap_size_used_bytes'), external: value('nodejs_external_memory_bytes') };
    };
    const memoryBefore = await memoryOf();
    const rssBefore = rssBytes(server.pid);
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssBytes(server.pid))), 250);
    // What the RSS is made of at its largest: V8's heap, or memory outside it (buffers, the engine's).
    const memoryMax = { heap: memoryBefore.heap, external: memoryBefore.external };
    const memorySampler = setInterval(
      () =>
        void memoryOf().then(
          ({ heap, external }) => {
            memoryMax.heap = Math.max(memoryMax.heap, heap);
            memoryMax.external = Math.max(memoryMax.external, external);
          },
          () => undefined,
        ),
      2_000,
    );
    const cpu0 = cpuMs(server.pid);
    let run: Record<string, number>;
    try {
      run = await loadgen.call({
        cmd: 'overload',
        url: server.url,
        tokens: database.orgs.map((org) => org.token),
        // Many users: each connection sends a few calls a second, as a person's would.
        connectionsPerToken: 40,
        rate,
        durationMs,
        // Four times the capacity for a minute leaves about three minutes of work behind it.
        drainTimeoutMs: 300_000,
        tag,
      });
    } finally {
      clearInterval(sampler);
      clearInterval(memorySampler);
    }
    const serverCpuMs = cpuMs(server.pid) - cpu0;
    const memoryAfter = await memoryOf();
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const figure = (name: string) => Number(metrics.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? Number.NaN);
    result = {
      sustainablePerSecond: calibration.perSecond,
      ...run,
      rssBeforeMb: rssBefore / 1e6,
      rssMaxMb: rssMax / 1e6,
      rssGrowthMb: (rssMax - rssBefore) / 1e6,
      heapTotalBeforeMb: memoryBefore.heap,
      heapTotalAfterMb: memoryAfter.heap,
      heapTotalMaxMb: memoryMax.heap,
      externalMaxMb: memoryMax.external,
      heapUsedBeforeMb: memoryBefore.used,
      heapUsedAfterMb: memoryAfter.used,
      externalBeforeMb: memoryBefore.external,
      externalAfterMb: memoryAfter.external,
      serverCpuMs,
      shedByServer: figure('tandem_commits_shed_total'),
      waitingAfter: figure('tandem_commits_waiting'),
    };
  } finally {
    await server.stop();
  }
  // Every call landed exactly once: its name is in the database once.
  const check = await openDatabase({ DATA_DIR: database.env.DATA_DIR!, DATABASE_URL: undefined });
  try {
    const rows = await check.prisma.$queryRawUnsafe<{ names: number; distinct: number }[]>(
      `SELECT count(*)::integer AS names, count(DISTINCT name)::integer AS distinct FROM "Lead" WHERE name LIKE $1`,
      `${tag}:%`,
    );
    result.storedCalls = rows[0]!.names;
    result.storedDistinct = rows[0]!.distinct;
  } finally {
    await check.close();
    database.cleanup();
  }
  results.overload = result;
  log(
    `overload: offered ${result.offered} at ${result.offeredPerSecond!.toFixed(0)}/s, refused ${result.refusals} times, accepted p50 ${result.acceptedP50!.toFixed(1)} / p99 ${result.acceptedP99!.toFixed(1)} ms, ` +
      `end to end p99 ${result.endToEndP99!.toFixed(0)} ms, drained in ${result.drainSeconds!.toFixed(1)} s, RSS ${result.rssBeforeMb!.toFixed(0)} → max ${result.rssMaxMb!.toFixed(0)} MB, ` +
      `stored ${result.storedCalls} (${result.storedDistinct} distinct) of ${result.offered}`,
  );
}

/**
 * The Redis hop, for sizing past one machine: two Tandem nodes on one PostgreSQL server and
 * one Redis (BUS=redis), 10 orgs × 100 subscribers all on node B. The same changes are
 * sent first to B itself (committed locally), then to A (committed there, arriving at B
 * over Redis). Reported: B's CPU per delivery either way, and A's per commit it publishes.
 */
async function redisHop(loadgen: LoadGen) {
  const orgs = 10;
  const perOrg = 100;
  const rates = quick ? [100] : [100, 300];
  const postgres = await startPostgres();
  const redis = await startRedis();
  const admin = new pg.Client({ connectionString: postgres.url() });
  await admin.connect();
  await admin.query('CREATE DATABASE bench_redis_hop');
  await admin.end();
  const database = await prepareTandemDatabase(orgs, postgres.url('bench_redis_hop'));
  const env = { ...database.env, BUS: 'redis', REDIS_URL: redis.url };
  const nodeA = await startTandem(env);
  const nodeB = await startTandem(env);
  const entries: NonNullable<BenchResults['redisHop']> = [];
  try {
    for (const [route, senders] of [
      ['committed on the same node', nodeB],
      ['committed on another node, over Redis', nodeA],
    ] as const) {
      await loadgen.call({
        cmd: 'connect',
        target: { kind: 'tandem', url: nodeB.url },
        senderUrl: senders.url,
        orgs: loadgenOrgs(database),
        subscribersPerOrg: perOrg,
      });
      await loadgen.call({ cmd: 'step', rate: 10, durationMs: 1_000, settleMs: 3_000 });
      for (const rate of rates) {
        const [a0, b0] = [cpuMs(nodeA.pid), cpuMs(nodeB.pid)];
        const r = await loadgen.call<StepResult>({ cmd: 'step', rate, durationMs: stepMs, settleMs });
        const [aCpu, bCpu] = [cpuMs(nodeA.pid) - a0, cpuMs(nodeB.pid) - b0];
        const entry = {
          path: route,
          offeredDeliveriesPerSecond: rate * perOrg,
          delivered: r.delivered,
          missing: r.missing,
          duplicates: r.duplicates,
          p99: r.p99,
          subscriberNodeCpuUsPerDelivery: (bCpu * 1000) / r.delivered,
          senderNodeCpuMsPerCommit: senders === nodeA ? aCpu / r.acked : Number.NaN,
          idleNodeCpuMsPerSecond: senders === nodeA ? Number.NaN : aCpu / (stepMs / 1000),
        };
        entries.push(entry);
        log(
          `redis hop: ${route}, ${entry.offeredDeliveriesPerSecond}/s: node B ${entry.subscriberNodeCpuUsPerDelivery.toFixed(2)} µs/delivery, ` +
            `node A ${Number.isFinite(entry.senderNodeCpuMsPerCommit) ? `${entry.senderNodeCpuMsPerCommit.toFixed(2)} ms/commit` : `${entry.idleNodeCpuMsPerSecond.toFixed(0)} ms/s idle`}, p99 ${r.p99.toFixed(1)} ms, missing ${r.missing}, dup ${r.duplicates}`,
        );
      }
      await loadgen.call({ cmd: 'close' });
    }
  } finally {
    results.redisHop = entries;
    await nodeA.stop();
    await nodeB.stop();
    database.cleanup();
    await redis[Symbol.asyncDispose]();
    await postgres.stop();
  }
}

async function main() {
  if (flag('report-only')) {
    // After a change to the report's code: the tables, charts and docs again from the latest results, nothing run.
    const latest = JSON.parse(readFileSync(path.join(outDir, 'latest.json'), 'utf8')) as BenchResults;
    log(`results: ${writeReports(latest, { outDir, docs: !flag('no-docs') && !args.includes('--out') }).join(', ')}`);
    return;
  }
  log(
    `Tandem benchmarks: ${cpus().length} cores, Node ${process.version}, taskset ${hasTaskset ? 'yes (server on core 0, load generator on core 1)' : 'absent (processes not pinned)'}`,
  );
  if (cpus().length < 2) results.notes.push('Fewer than 2 cores: the server and the load generator share one.');
  mkdirSync(outDir, { recursive: true });
  // Its own folder: bench:profile reads the largest profile of profile/, which is the server's.
  const loadgenProf = profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(outDir, 'profile', 'loadgen')}`] : [];
  const loadgen = await startLoadGen((line) => log(`  load generator: ${line}`), loadgenProf);
  try {
    // A scenario that fails is noted and the others still run: a long run is never lost whole.
    const attempt = async (name: string, run: () => Promise<void>) => {
      try {
        await run();
      } catch (error) {
        log(`${name} failed: ${String(error)}`);
        results.notes.push(`${name} failed: ${String(error).slice(0, 300)}`);
        await loadgen.call({ cmd: 'close' }).catch(() => {});
      }
    };
    if (scenarios.has('fanout')) {
      for (const layout of option('layouts', quick ? '1x' : '10x,1x').split(',')) {
        const orgs = Number(layout.split('x')[0]);
        const perOrg = Number(layout.split('x')[1]) || Math.max(1, Math.round(connections / orgs));
        await attempt(`fan-out ${layout}`, () => fanout(loadgen, { orgs, perOrg }));
      }
    }
    if (scenarios.has('memory')) await attempt('memory', () => memory(loadgen));
    if (scenarios.has('storm') && contestants.includes('tandem')) await attempt('storm', () => storm(loadgen));
    if (scenarios.has('mutation') && contestants.includes('tandem')) await attempt('mutation path', () => mutationPath(loadgen));
    if (scenarios.has('overload') && contestants.includes('tandem')) await attempt('overload', () => overload(loadgen));
    if (scenarios.has('redis-hop') && contestants.includes('tandem')) await attempt('redis hop', () => redisHop(loadgen));
    if (scenarios.has('soak')) await attempt('soak', () => soak(loadgen));
  } finally {
    await loadgen.stop();
  }
  if (flag('merge')) {
    // Keep the previous run's figures for the scenarios not run this time.
    const previous = JSON.parse(readFileSync(path.join(outDir, 'latest.json'), 'utf8')) as BenchResults;
    if (!scenarios.has('fanout')) Object.assign(results, { fanout: previous.fanout, saturation: previous.saturation });
    if (!scenarios.has('memory')) results.memory = previous.memory;
    if (!scenarios.has('storm')) results.storm = previous.storm;
    if (!scenarios.has('mutation')) results.mutationPath = previous.mutationPath;
    if (!scenarios.has('overload')) results.overload = previous.overload ?? null;
    if (!scenarios.has('redis-hop')) results.redisHop = previous.redisHop ?? null;
    if (!scenarios.has('soak')) results.soak = previous.soak ?? null;
    results.notes.push(`Merged: ${[...scenarios].join(', ')} from the run of ${results.date.slice(0, 16)} UTC, the rest from the run of ${previous.date.slice(0, 16)} UTC.`);
    // The header's date is that of the run the summary (the fan-out) comes from.
    if (!scenarios.has('fanout')) results.date = previous.date;
  }
  const written = writeReports(results, { outDir, docs: !flag('no-docs') && !args.includes('--out') });
  log(`results: ${written.join(', ')}`);
}

await main();
process.exit(0);
