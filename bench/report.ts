/**
 * Turns a run's results into `bench/results/<date>.json`, `bench/results/latest.md`,
 * SVG charts in `docs/bench/`, and the generated part of `docs/BENCHMARKS.md`
 * (between its `results:start` and `results:end` markers; the rest is prose).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Kind } from './loadgen.ts';

const root = path.resolve(import.meta.dirname, '..');

export interface FanoutStep {
  contestant: Kind;
  layout: string;
  changesPerSecond: number;
  offeredDeliveriesPerSecond: number;
  deliveredPerSecond: number;
  deliveredRatio: number;
  p50: number;
  p99: number;
  max: number;
  duplicates: number;
  missing: number;
  sent: number;
  acked: number;
  errors: number;
  /** p99 of send → mutation reply (ms): the commit path's latency. */
  ackP99: number;
  /** p99 over changes of send → the change's first delivery (ms): the commit path and the publish, without the fan-out's spread over the subscribers; absent in results older than it. */
  firstP99?: number;
  serverCpuUsPerDelivery: number;
  serverCpuShare: number;
  loadgenCpuShare: number;
  /** CPU the machine's other processes used during the step, in cores (the machine is shared). */
  othersCpuShare?: number;
  serverRssMb: number;
  /** Which try of this rung (a failed rung runs twice; the second is kept; over repeats, the most tries any took). */
  attempt?: number;
  /** How many ladders were climbed (`--repeats`). */
  repeats?: number;
  /** How many of them ran this rung: its figures are their median, its missing/dup/errors/sent/acked their sum. */
  medianOf?: number;
  /** With `--repeats`: each run's p99 and server CPU per delivery at this rung (the fields above are their medians). */
  p99ByRepeat?: number[];
  cpuByRepeat?: number[];
  /** Why this step failed (null: within p99 ≤ 250 ms and ≥ 95 % delivered; over repeats: held by more than half). */
  limit: 'database commit rate' | 'server CPU' | 'server CPU (incl. PGlite)' | 'load generator CPU' | 'other processes on the cores' | 'latency' | null;
}

export interface BenchResults {
  date: string;
  machine: { cpus: number; cpuModel: string; node: string; taskset: boolean };
  options: Record<string, unknown>;
  fanout: FanoutStep[];
  /** With `--repeats`: the median of the repeats' sustained rates (each of them in sustainedByRepeat). */
  saturation: {
    contestant: Kind;
    layout: string;
    sustainedDeliveriesPerSecond: number;
    limit: string;
    cpuUsPerDeliveryAtSustained: number;
    repeats?: number;
    sustainedByRepeat?: number[];
  }[];
  memory: {
    contestant: Kind;
    connections: number;
    rssBeforeMb: number;
    rssAfterMb: number;
    rssSamplesMb?: number[];
    bytesPerConnection: number;
    connectSeconds: number;
    repeats?: number;
    bytesPerConnectionByRepeat?: number[];
  }[];
  /** With `repeats`: times and reconnects are medians, changes/deliveries/missing/duplicated totals, live the fewest of any repeat. */
  storm: Record<string, number> | null;
  soak:
    | ({
        minutes: number;
        samples: { minute: number; rssMb: number; heapUsedMb?: number; activeHandles?: number; openFds: number; connections: number; busListeners: number; cpuSeconds: number }[];
      } & Record<string, unknown>)
    | null;
  mutationPath: {
    database: string;
    /** Group commit on (the default) or off (GROUP_COMMIT=false: each change alone). Absent in older results: off. */
    groupCommit?: boolean;
    workers: number;
    stack: { perSecond: number; p50: number; p99: number; failures: number; serverCpuMsPerCommit: number };
    raw: { perSecond: number; p50: number; p99: number };
    repeats?: number;
  }[];
  /** Two nodes on PostgreSQL and Redis: CPU per delivery of an event committed on the subscribers' node and of one arriving over Redis (bench/run.ts `redisHop`). */
  redisHop?:
    | {
        path: string;
        offeredDeliveriesPerSecond: number;
        delivered: number;
        missing: number;
        duplicates: number;
        p99: number;
        subscriberNodeCpuUsPerDelivery: number;
        senderNodeCpuMsPerCommit: number;
        idleNodeCpuMsPerSecond: number;
      }[]
    | null;
  /** Four times the sustainable commit rate offered for a minute (bench/run.ts `overload`). */
  overload?: Record<string, number> | null;
  notes: string[];
}

export const labels: Record<Kind, string> = {
  ws: 'bare `ws`, room maps',
  'ws-batched': 'bare `ws`, writes batched per socket per tick',
  socketio: 'Socket.IO 4',
  'trpc-ee': 'tRPC 11, EventEmitter pattern of its docs',
  tandem: 'Tandem (full stack, PGlite)',
  'tandem-iterator': 'Tandem, every delivery through the generator (WS_DIRECT_DELIVERY=false)',
};
const colors: Record<Kind, string> = { ws: '#555555', 'ws-batched': '#999999', socketio: '#2a7ab9', 'trpc-ee': '#d98c1f', tandem: '#c0392b', 'tandem-iterator': '#e6a0a0' };

const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const ratio = (value: number, base: number | undefined) => (base && Number.isFinite(value) && Number.isFinite(base) ? `${(value / base).toFixed(2)}×` : '–');
const int = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–');

/**
 * `medians of 3 runs, <how the rest is counted>` for a section whose entries are medians of
 * `--repeats` runs, '' for one run (results from before `--repeats` have no count: one run).
 */
function mediansOf(entries: { repeats?: number }[], rest: string) {
  const most = Math.max(1, ...entries.map((entry) => entry.repeats ?? 1));
  return most > 1 ? `medians of ${most} runs, ${rest}` : '';
}
const bracketed = (text: string) => (text ? ` (${text})` : '');

/** What the header says of `--repeats` (the sections say it again: with `--merge` they can differ). */
function repeatsLine(results: BenchResults) {
  const repeats = Number(results.options.repeats ?? 1);
  return repeats > 1 ? ` · figures are medians of ${repeats} runs (--repeats; each run measures every contestant in turn), counts of missing, duplicated and errors their sum` : '';
}

/** A rung fewer runs reached than were climbed (a ladder stops at its first failed rung): the median of those. */
const partial = (step: FanoutStep) => (step.medianOf && step.repeats && step.medianOf < step.repeats ? `median of the ${step.medianOf} of ${step.repeats} runs that got here` : '');
/** `12,345 (11,902 / 12,345 / 13,010)`: the median and each repeat's figure, when there were several. */
const withRepeats = (value: string, byRepeat: string[] | undefined) => (byRepeat && byRepeat.length > 1 ? `${value} (${byRepeat.join(' / ')})` : value);

/**
 * The held rung whose offered rate is nearest `target` (the lower of two equally near):
 * half of a sustained 199,951/s is the 100,000/s rung, not the 75,000/s one below it.
 */
function rungNearest(held: FanoutStep[], target: number): FanoutStep | undefined {
  const distance = (step: FanoutStep) => Math.abs(step.offeredDeliveriesPerSecond - target);
  return [...held].sort((a, b) => distance(a) - distance(b) || a.offeredDeliveriesPerSecond - b.offeredDeliveriesPerSecond)[0];
}

/** The step nearest to `target` deliveries/s offered that passed, for per-delivery CPU at a common load. */
function stepAt(steps: FanoutStep[], kind: Kind, layout: string, offered: number) {
  const mine = steps.filter((s) => s.contestant === kind && s.layout === layout);
  return mine.find((s) => s.offeredDeliveriesPerSecond === offered) ?? mine.filter((s) => s.limit === null).at(-1);
}

/** The offered rates at which the summary compares CPU per delivery (the issue's range). */
const CPU_RATES = [10_000, 50_000, 100_000];

export function markdown(results: BenchResults): string {
  const lines: string[] = [];
  const kinds = [...new Set([...results.saturation.map((s) => s.contestant), ...results.memory.map((m) => m.contestant)])];
  const memBase = results.memory.find((m) => m.contestant === 'ws');
  const layout1k = results.saturation[0]?.layout ?? '1x1000';
  lines.push(
    `Run of ${results.date.slice(0, 16).replace('T', ' ')} UTC · ${results.machine.cpus} cores (${results.machine.cpuModel}) · Node ${results.machine.node} · ${results.machine.taskset ? 'server pinned to core 0, load generator to core 1' : 'not pinned (no taskset)'} · options ${JSON.stringify(results.options)}${repeatsLine(results)}`,
    '',
  );
  if (results.saturation.length || results.memory.length) {
    // With --merge the two may come from runs of different --repeats: say so for each.
    const runsOf = (entries: { repeats?: number }[]) => Math.max(1, ...entries.map((entry) => entry.repeats ?? 1));
    const [fanoutRuns, memoryRuns] = [runsOf(results.saturation), runsOf(results.memory)];
    const medians =
      fanoutRuns === memoryRuns
        ? mediansOf([...results.saturation, ...results.memory], "each run's figure in brackets")
        : `fan-out ${fanoutRuns > 1 ? `medians of ${fanoutRuns} runs, each run's figure in brackets` : 'from one run'}, memory ${memoryRuns > 1 ? `the median of ${memoryRuns} runs` : 'from one run'}`;
    // One table per layout, the many-small-orgs one first: both count, and they differ.
    const layouts = [...new Set(results.saturation.map((s) => s.layout))].sort((a, b) => Number(b.split('x')[0]) - Number(a.split('x')[0]));
    for (const layout of layouts.length ? layouts : [layout1k]) {
      const satBase = results.saturation.find((s) => s.contestant === 'ws' && s.layout === layout);
      const cpuBases = CPU_RATES.map((rate) => stepAt(results.fanout, 'ws', layout, rate));
      lines.push(`### Summary, ${layout.replace('x', ' org(s) × ')} subscribers (ratios to bare \`ws\` of the same run${medians && `; ${medians}`})`, '');
      lines.push(
        `| server | deliveries/s sustained (p99 ≤ 250 ms, ≥ 95 %) | × ws | stopped by | ${CPU_RATES.map((rate) => `server CPU per delivery at ${int(rate)}/s (× ws)`).join(' | ')} | p99 at the rung nearest half of its saturation | memory per idle subscribed connection | × ws |`,
      );
      lines.push(`|---|---:|---:|---|${CPU_RATES.map(() => '---:|').join('')}---:|---:|---:|`);
      for (const kind of kinds) {
        const sat = results.saturation.find((s) => s.contestant === kind && s.layout === layout);
        const mem = results.memory.find((m) => m.contestant === kind);
        const half = sat
          ? rungNearest(
              results.fanout.filter((s) => s.contestant === kind && s.layout === layout && s.limit === null),
              sat.sustainedDeliveriesPerSecond / 2,
            )
          : undefined;
        const cpus = CPU_RATES.map((rate, i) => {
          const step = results.fanout.find((s) => s.contestant === kind && s.layout === layout && s.offeredDeliveriesPerSecond === rate);
          return step
            ? `${withRepeats(
                fmt(step.serverCpuUsPerDelivery, 2),
                step.cpuByRepeat?.map((value) => fmt(value, 1)),
              )} µs (${ratio(step.serverCpuUsPerDelivery, cpuBases[i]?.serverCpuUsPerDelivery)})`
            : '–';
        });
        lines.push(
          `| ${labels[kind]} | ${sat ? withRepeats(int(sat.sustainedDeliveriesPerSecond), sat.sustainedByRepeat?.map(int)) : '–'} | ${ratio(sat?.sustainedDeliveriesPerSecond ?? Number.NaN, satBase?.sustainedDeliveriesPerSecond)} | ${sat?.limit ?? '–'} | ` +
            `${cpus.join(' | ')} | ` +
            `${
              half
                ? `${withRepeats(
                    fmt(half.p99),
                    half.p99ByRepeat?.map((value) => fmt(value)),
                  )} ms (at ${int(half.offeredDeliveriesPerSecond)}/s)`
                : '–'
            } | ${mem ? `${fmt(mem.bytesPerConnection / 1024)} KB (${int(mem.connections)} conns)` : '–'} | ${ratio(mem?.bytesPerConnection ?? Number.NaN, memBase?.bytesPerConnection)} |`,
        );
      }
      lines.push('');
    }
  }
  for (const layout of [...new Set(results.fanout.map((s) => s.layout))]) {
    const [orgs, perOrg] = layout.split('x');
    lines.push(
      `### Fan-out latency, ${orgs} org(s) × ${perOrg} subscribers${bracketed(
        mediansOf(
          results.fanout.filter((s) => s.layout === layout),
          'missing and dup summed over them',
        ),
      )}`,
      '',
    );
    lines.push(
      '| server | offered deliveries/s | delivered/s | delivered | p50 ms | p99 ms | max ms | p99 to first delivery, ms | server CPU µs/delivery | × ws | server CPU | load-gen CPU | other processes CPU | missing | dup | |',
    );
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const step of results.fanout.filter((s) => s.layout === layout)) {
      const base = results.fanout.find((s) => s.contestant === 'ws' && s.layout === layout && s.offeredDeliveriesPerSecond === step.offeredDeliveriesPerSecond);
      lines.push(
        `| ${labels[step.contestant]} | ${int(step.offeredDeliveriesPerSecond)} | ${int(step.deliveredPerSecond)} | ${fmt(step.deliveredRatio * 100)} % | ${fmt(step.p50)} | ${fmt(step.p99)} | ${fmt(step.max)} | ${step.firstP99 === undefined ? '–' : fmt(step.firstP99)} | ` +
          `${fmt(step.serverCpuUsPerDelivery, 2)} | ${ratio(step.serverCpuUsPerDelivery, base?.serverCpuUsPerDelivery)} | ${fmt(step.serverCpuShare * 100, 0)} % | ${fmt(step.loadgenCpuShare * 100, 0)} % | ${step.othersCpuShare === undefined ? '–' : `${fmt(step.othersCpuShare * 100, 0)} %`} | ${step.missing} | ${step.duplicates} | ${[step.limit ? `✗ ${step.limit}` : '', partial(step)].filter(Boolean).join('; ')} |`,
      );
    }
    lines.push('');
  }
  if (results.memory.length) {
    lines.push(
      `### Memory: idle authenticated connections with one subscription each${bracketed(mediansOf(results.memory, 'connections the fewest any run got, per connection each run in brackets'))}`,
      '',
    );
    lines.push('| server | connections | RSS before | RSS after | per connection | × ws | connect time |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const m of results.memory) {
      lines.push(
        `| ${labels[m.contestant]} | ${int(m.connections)} | ${fmt(m.rssBeforeMb, 0)} MB | ${fmt(m.rssAfterMb, 0)} MB | ${withRepeats(
          `${fmt(m.bytesPerConnection / 1024)} KB`,
          m.bytesPerConnectionByRepeat?.map((b) => fmt(b / 1024)),
        )} | ${ratio(m.bytesPerConnection, memBase?.bytesPerConnection)} | ${fmt(m.connectSeconds)} s |`,
      );
    }
    lines.push('');
  }
  if (results.storm) {
    const s = results.storm;
    const medians = mediansOf(
      [s],
      'for the times and reconnect attempts; changes, deliveries, not caught up, missing and duplicated summed over them; clients live: the fewest in any run',
    );
    lines.push(`### Reconnect storm (Tandem; the baselines have no log to resume from${medians && `; ${medians}`})`, '');
    lines.push(
      '| clients | changes/s during | server down → up | every client live again after the first drop | reconnect attempts | changes | deliveries | not caught up at the end | missing (live clients) | duplicated |',
    );
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    lines.push(
      `| ${int(s.clients!)} (${int(s.live!)} live) | ${s.changesPerSecond} | ${fmt(s.serverDownToUpSeconds!)} s | ${s.live === s.clients ? `${fmt(s.allLiveSecondsAfterFirstDrop!)} s` : `not all within the timeout (${int(s.live!)} live)`} | ${int(s.reconnects!)} | ${int(s.changes!)} | ${int(s.delivered!)} / ${int(s.expectedDeliveries!)} | ${s.notCaughtUp ?? '–'} | **${s.missing}** | **${s.duplicates}** |`,
      '',
    );
  }
  if (results.soak) {
    const s = results.soak;
    lines.push(`### Soak: ${s.minutes} minutes, 20 changes/s, 50 subscribers cut and resumed every minute`, '');
    lines.push('| minute | server RSS | heap used | active handles | open fds | connections | bus listeners | server CPU so far |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const x of s.samples) {
      const heap = x.heapUsedMb === undefined ? '–' : `${fmt(x.heapUsedMb, 0)} MB`;
      lines.push(`| ${x.minute} | ${fmt(x.rssMb, 0)} MB | ${heap} | ${x.activeHandles ?? '–'} | ${x.openFds} | ${x.connections} | ${x.busListeners} | ${fmt(x.cpuSeconds)} s |`);
    }
    lines.push(
      '',
      `Changes ${String(s.changes)}, deliveries ${String(s.delivered)} / ${String(s.expectedDeliveries)}, missing **${String(s.missing)}**, duplicated **${String(s.duplicates)}**.`,
      '',
    );
  }
  if (results.mutationPath.length) {
    lines.push(
      `### Mutation path: commits with their event, through the stack vs the same statements as raw SQL${bracketed(mediansOf(results.mutationPath, 'stack ÷ raw of the medians'))}`,
      '',
    );
    lines.push('| database | group commit | closed loops | stack commits/s | stack p50 / p99 | raw SQL commits/s | raw p50 / p99 | stack ÷ raw | server CPU per commit |');
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const m of results.mutationPath) {
      lines.push(
        `| ${m.database} | ${m.groupCommit ? 'on' : 'off'} | ${m.workers} | ${int(m.stack.perSecond)} | ${fmt(m.stack.p50)} / ${fmt(m.stack.p99)} ms | ${int(m.raw.perSecond)} | ${fmt(m.raw.p50)} / ${fmt(m.raw.p99)} ms | ${(m.stack.perSecond / m.raw.perSecond).toFixed(2)} | ${fmt(m.stack.serverCpuMsPerCommit, 2)} ms |`,
      );
    }
    lines.push('');
  }
  const o = results.overload;
  if (o) {
    lines.push(
      '### Overload: four times the sustainable commit rate, open loop',
      '',
      `Sustainable (8 closed loops): ${int(o.sustainablePerSecond!)} commits/s; offered ${int(o.offeredPerSecond!)}/s for ${fmt(o.offered! / o.offeredPerSecond!, 0)} s (${int(o.offered!)} calls of leads.create), a refusal sent again after its \`retryAfterMs\` with the same key.`,
      '',
      '| refusals | accepted p50 / p99 | end to end p50 / p99 (with retries) | drained after the offer stopped | RSS before → max (growth) | V8 heap / outside it, before → max | stored / distinct / offered | waiting after |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      `| ${int(o.refusals!)} | ${fmt(o.acceptedP50!)} / ${fmt(o.acceptedP99!)} ms | ${fmt(o.endToEndP50!, 0)} / ${fmt(o.endToEndP99!, 0)} ms | ${fmt(o.drainSeconds!)} s | ${int(o.rssBeforeMb!)} → ${int(o.rssMaxMb!)} MB (+${int(o.rssGrowthMb!)}) | ${o.heapTotalMaxMb === undefined ? '–' : `${int(o.heapTotalBeforeMb!)} → ${int(o.heapTotalMaxMb)} / ${int(o.externalBeforeMb!)} → ${int(o.externalMaxMb!)} MB`} | ${int(o.storedCalls!)} / ${int(o.storedDistinct!)} / ${int(o.offered!)} | ${int(o.waitingAfter!)} |`,
      '',
      `Goal: RSS grows by less than 100 MB, accepted p99 under 1 s, everything drains, every call stored once: ${
        o.rssGrowthMb! < 100 && o.acceptedP99! < 1000 && o.unanswered === 0 && o.storedCalls === o.offered && o.storedDistinct === o.offered ? '**met**' : '**not met**'
      }.`,
      '',
    );
  }
  if (results.redisHop?.length) {
    lines.push(
      '### Two nodes: an event committed on the subscribers’ node, and one arriving over Redis',
      '',
      'PostgreSQL server and Redis, `BUS=redis`; 10 orgs × 100 subscribers on node B; the changes sent to B, then to A.',
      '',
      '| path | offered deliveries/s | node B CPU per delivery | node A CPU per commit (publishing to Redis) | p99 | missing | dup |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...results.redisHop.map(
        (h) =>
          `| ${h.path} | ${int(h.offeredDeliveriesPerSecond)} | ${fmt(h.subscriberNodeCpuUsPerDelivery, 2)} µs | ${Number.isFinite(h.senderNodeCpuMsPerCommit) ? `${fmt(h.senderNodeCpuMsPerCommit, 2)} ms` : `– (idle: ${fmt(h.idleNodeCpuMsPerSecond, 0)} ms/s)`} | ${fmt(h.p99)} ms | ${int(h.missing)} | ${int(h.duplicates)} |`,
      ),
      '',
    );
  }
  if (results.notes.length) lines.push(...results.notes.map((note) => `- ${note}`), '');
  return lines.join('\n');
}

/** Latency p50 (dashed) and p99 (solid) against offered deliveries/s, log–log, one colour per contestant. */
export function latencyChart(results: BenchResults, layout: string): string {
  const steps = results.fanout.filter((s) => s.layout === layout && Number.isFinite(s.p99));
  const width = 720;
  const height = 420;
  const m = { left: 70, right: 250, top: 40, bottom: 50 };
  const xs = steps.map((s) => s.offeredDeliveriesPerSecond);
  const ys = steps.flatMap((s) => [Math.max(0.1, s.p50), Math.max(0.1, s.p99)]);
  const [x0, x1] = [Math.log10(Math.min(...xs, 1_000)), Math.log10(Math.max(...xs, 10_000))];
  const [y0, y1] = [Math.floor(Math.log10(Math.min(...ys, 1))), Math.ceil(Math.log10(Math.max(...ys, 300)))];
  const px = (x: number) => m.left + ((Math.log10(x) - x0) / (x1 - x0)) * (width - m.left - m.right);
  const py = (y: number) => height - m.bottom - ((Math.log10(Math.max(0.1, y)) - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${m.left}" y="22" font-size="14">Delivery latency vs offered load, ${layout.replace('x', ' org(s) × ')} subscribers (p99 solid, p50 dashed)</text>`);
  for (let e = y0; e <= y1; e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${m.left - 8}" y="${y + 4}" text-anchor="end">${10 ** e} ms</text>`);
  }
  for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** e;
      if (Math.log10(v) < x0 || Math.log10(v) > x1) continue;
      const x = px(v);
      out.push(
        `<line x1="${x}" x2="${x}" y1="${m.top}" y2="${height - m.bottom}" stroke="#eee"/><text x="${x}" y="${height - m.bottom + 16}" text-anchor="middle">${v >= 1000 ? `${v / 1000}k` : v}</text>`,
      );
    }
  }
  out.push(
    `<line x1="${m.left}" x2="${width - m.right}" y1="${py(250)}" y2="${py(250)}" stroke="#c00" stroke-dasharray="2,3"/><text x="${width - m.right - 4}" y="${py(250) - 4}" text-anchor="end" fill="#c00">250 ms</text>`,
  );
  out.push(`<text x="${(m.left + width - m.right) / 2}" y="${height - 12}" text-anchor="middle">offered deliveries per second (log)</text>`);
  const kinds = [...new Set(steps.map((s) => s.contestant))];
  kinds.forEach((kind, index) => {
    const mine = steps.filter((s) => s.contestant === kind);
    for (const [key, dash] of [
      ['p99', ''],
      ['p50', ' stroke-dasharray="5,4"'],
    ] as const) {
      const points = mine.map((s) => `${px(s.offeredDeliveriesPerSecond).toFixed(1)},${py(s[key]).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="${colors[kind]}" stroke-width="2"${dash}/>`);
      for (const s of mine)
        out.push(
          `<circle cx="${px(s.offeredDeliveriesPerSecond).toFixed(1)}" cy="${py(s[key]).toFixed(1)}" r="3" fill="${s.limit ? 'white' : colors[kind]}" stroke="${colors[kind]}"/>`,
        );
    }
    const y = m.top + 10 + index * 20;
    out.push(
      `<line x1="${width - m.right + 15}" x2="${width - m.right + 40}" y1="${y}" y2="${y}" stroke="${colors[kind]}" stroke-width="2"/><text x="${width - m.right + 46}" y="${y + 4}">${labels[kind].replaceAll('`', '')}</text>`,
    );
  });
  out.push(`<text x="${width - m.right + 15}" y="${m.top + 20 + kinds.length * 20}" fill="#666">hollow point: failed step</text>`);
  out.push('</svg>');
  return out.join('\n');
}

export function memoryChart(results: BenchResults): string {
  const rows = results.memory;
  const width = 640;
  const barHeight = 26;
  const left = 300;
  const height = 60 + rows.length * (barHeight + 10);
  const max = Math.max(...rows.map((r) => r.bytesPerConnection / 1024), 16);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  out.push(`<text x="10" y="22" font-size="14">Server RSS per idle subscribed connection (KB), ${int(rows[0]?.connections ?? 0)} connections</text>`);
  const scale = (kb: number) => ((width - left - 70) * kb) / max;
  out.push(
    `<line x1="${left + scale(15)}" x2="${left + scale(15)}" y1="34" y2="${height - 10}" stroke="#c00" stroke-dasharray="2,3"/><text x="${left + scale(15) + 3}" y="${height - 12}" fill="#c00">15 KB goal</text>`,
  );
  rows.forEach((row, index) => {
    const kb = row.bytesPerConnection / 1024;
    const y = 40 + index * (barHeight + 10);
    out.push(`<text x="${left - 8}" y="${y + barHeight / 2 + 4}" text-anchor="end">${labels[row.contestant].replaceAll('`', '')}</text>`);
    out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, scale(kb)).toFixed(1)}" height="${barHeight}" fill="${colors[row.contestant]}"/>`);
    out.push(`<text x="${left + Math.max(1, scale(kb)) + 4}" y="${y + barHeight / 2 + 4}">${fmt(kb)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Writes every report of a run; `docs`: also the charts in docs/bench/ and the table in docs/BENCHMARKS.md. */
export function writeReports(results: BenchResults, options: { outDir: string; docs: boolean }): string[] {
  const written: string[] = [];
  mkdirSync(options.outDir, { recursive: true });
  const stamp = results.date.replace(/[:.]/g, '-');
  const table = markdown(results);
  for (const [file, text] of [
    [`${stamp}.json`, JSON.stringify(results, null, 2)],
    ['latest.json', JSON.stringify(results, null, 2)],
    ['latest.md', `${table}\n`],
  ] as const) {
    writeFileSync(path.join(options.outDir, file), text);
    written.push(path.relative(root, path.join(options.outDir, file)));
  }
  if (!options.docs) return written;
  const chartDir = path.join(root, 'docs', 'bench');
  mkdirSync(chartDir, { recursive: true });
  const charts: string[] = [];
  for (const layout of [...new Set(results.fanout.map((s) => s.layout))]) {
    const file = `latency-${layout}.svg`;
    writeFileSync(path.join(chartDir, file), latencyChart(results, layout));
    charts.push(`![Latency, ${layout}](bench/${file})`);
  }
  if (results.memory.length) {
    writeFileSync(path.join(chartDir, 'memory.svg'), memoryChart(results));
    charts.push('![Memory per connection](bench/memory.svg)');
  }
  written.push(...charts.map((c) => `docs/${c.match(/\((.*)\)/)![1]}`));
  const docsFile = path.join(root, 'docs', 'BENCHMARKS.md');
  const generated = `<!-- results:start (generated by npm run bench; do not edit by hand) -->\n${table}\n${charts.join('\n\n')}\n<!-- results:end -->`;
  const current = existsSync(docsFile) ? readFileSync(docsFile, 'utf8') : '# Benchmarks\n\n<!-- results:start -->\n<!-- results:end -->\n';
  const next = current.replace(/<!-- results:start[\s\S]*?<!-- results:end -->/, generated);
  writeFileSync(docsFile, next);
  written.push('docs/BENCHMARKS.md');
  return written;
}
