/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`; `npm run bench -- --profile` writes
 * the Tandem server's during the 1-org fan-out to bench/results/profile/): self time
 * by function and by area of the code.
 *
 *   npm run bench:profile -- [file.cpuprofile] [top=30]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const dir = path.resolve(import.meta.dirname, 'results', 'profile');
const file =
  process.argv[2] && !/^\d+$/.test(process.argv[2])
    ? process.argv[2]
    : readdirSync(dir)
        .filter((name) => name.endsWith('.cpuprofile'))
        .map((name) => path.join(dir, name))
        // The largest: the main thread (tsx's loader thread writes a small one too).
        .sort((a, b) => statSync(b).size - statSync(a).size)[0];
if (!file) throw new Error('no .cpuprofile found: run npm run bench -- --profile');
const top = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
for (const [index, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
const total = [...selfUs.values()].reduce((sum, value) => sum + value, 0);

function where(url: string): string {
  const short = url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '')
    .replace(/^.*\/work\/main\//, '');
  return short || '(native)';
}

function area(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(idle)' || functionName === '(program)') return functionName;
  if (url.includes('@electric-sql/pglite') || url.startsWith('wasm://')) return 'PGlite (database, in process)';
  if (url.includes('@prisma') || url.includes('generated/prisma') || url.includes('pglite-prisma-adapter')) return 'Prisma';
  if (url.includes('@trpc/server')) return 'tRPC server (adapter, procedures, streams)';
  if (url.includes('/ws/')) return 'ws (framing, socket writes)';
  if (url.includes('src/server') || url.includes('dist/server')) return 'Tandem server code';
  if (url.includes('zod')) return 'zod';
  if (url.startsWith('node:') || url === '')
    return `Node internals / natives (${functionName || 'anonymous'})`.startsWith('Node internals / natives (JSON') ? 'JSON' : 'Node internals and natives';
  return 'other';
}

const byFunction = new Map<string, number>();
const byArea = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  const key = `${node.callFrame.functionName || '(anonymous)'}  ${where(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const a = area(node);
  byArea.set(a, (byArea.get(a) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
console.log(`${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled`);
console.log('\nSelf time by area:');
for (const [name, us] of [...byArea].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us)}  ${name}`);
console.log(`\nTop ${top} functions by self time:`);
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${name}`);

// Inclusive time of the functions on the delivery and commit paths (a sample counts once per function).
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const watched = (
  process.env.PROFILE_FUNCTIONS ?? 'publish,encode,respond,streamEvents,send,observe,inc,commitChange,$transaction,race,createContextInner,checkBeforeYield,next'
).split(',');
const inclusive = new Map<string, number>();
profile.samples.forEach((id, index) => {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at)!.callFrame;
    if (!watched.includes(frame.functionName)) continue;
    const key = `${frame.functionName}  ${where(frame.url)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + (profile.timeDeltas[index] ?? 0));
  }
});
console.log('\nInclusive time (self + callees) of functions on the hot paths:');
for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${name}`);
