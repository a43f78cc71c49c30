/**
 * Processes of a benchmark run: servers (Tandem through `npm start`'s code path, the
 * baselines), the load generator, pinned to separate cores with `taskset` when it
 * exists, and what is read from /proc about them (CPU time, RSS).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashPassword } from '../src/server/auth/passwords.ts';
import { createTokenService } from '../src/server/auth/tokens.ts';
import { openDatabase } from '../src/server/db/client.ts';
import { applyMigrations } from '../src/server/db/migrate.ts';
import type { Kind } from './loadgen.ts';

export const root = path.resolve(import.meta.dirname, '..');
export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** Server on core 0, load generator on core 1 (when taskset exists and there are two cores). */
export function pinned(core: number, command: string, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
}

export interface ServerHandle {
  kind: Kind;
  child: ChildProcess;
  pid: number;
  url: string;
  output(): string;
  stop(): Promise<void>;
}

function waitFor(child: ChildProcess, pattern: RegExp, output: () => string, what: string): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no start line within 90 s:\n${output()}`)), 90_000);
    const check = () => {
      const match = output().match(pattern);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(match);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${output()}`));
    });
  });
}

function startProcess(kind: Kind, args: string[], env: Record<string, string>, pattern: RegExp, nodeFlags: string[] = []): Promise<ServerHandle> {
  // TypeScript runs through tsx; a built bundle (.mjs) runs on plain node.
  const loader = args[0]?.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const [command, argv] = pinned(0, process.execPath, [...nodeFlags, ...loader, ...args]);
  const child = spawn(command, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return waitFor(child, pattern, () => output, kind).then((match) => ({
    kind,
    child,
    pid: child.pid!,
    url: match[1]!.startsWith('http') ? match[1]! : `http://127.0.0.1:${match[1]}`,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  }));
}

const baselineScripts: Record<Exclude<Kind, 'tandem' | 'tandem-iterator'>, string[]> = {
  ws: ['bench/baselines/ws-rooms.ts'],
  'ws-batched': ['bench/baselines/ws-rooms.ts', '--batched'],
  socketio: ['bench/baselines/socketio.ts'],
  'trpc-ee': ['bench/baselines/trpc-ee.ts'],
};

export function startBaseline(kind: Exclude<Kind, 'tandem' | 'tandem-iterator'>): Promise<ServerHandle> {
  return startProcess(kind, baselineScripts[kind], {}, /listening on (\d+)/);
}

export interface TandemDatabase {
  env: Record<string, string>;
  /** Per org: its id and its user's token. */
  orgs: { orgId: string; userId: string; token: string }[];
  secret: string;
  cleanup(): void;
}

/** The database's orgs as the load generator takes them: each org's one user subscribes and sends. */
export function loadgenOrgs(database: TandemDatabase): { subscriberTokens: string[]; senderToken: string }[] {
  return database.orgs.map((org) => ({ subscriberTokens: [org.token], senderToken: org.token }));
}

/**
 * A fresh database with `orgCount` orgs of one user each, made before the server starts
 * (migrations applied here, as the server would); tokens are signed with the secret
 * the server is given.
 */
export async function prepareTandemDatabase(orgCount: number, databaseUrl?: string): Promise<TandemDatabase> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tandem-bench-'));
  const secret = randomBytes(36).toString('base64url');
  const database = await openDatabase({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl });
  await applyMigrations(database.adapterFactory);
  const passwordHash = await hashPassword('demo1234');
  const tokens = createTokenService(new TextEncoder().encode(secret), 24 * 3600);
  const orgs: TandemDatabase['orgs'] = [];
  const run = randomBytes(4).toString('hex');
  for (let i = 0; i < orgCount; i++) {
    const org = await database.prisma.org.create({ data: { name: `Bench org ${i + 1}` } });
    const user = await database.prisma.user.create({
      data: { orgId: org.id, email: `bench-${run}-${i + 1}@bench.test`, name: `Bench user ${i + 1}`, passwordHash, role: 'admin' },
    });
    const session = await database.prisma.session.create({ data: { userId: user.id, orgId: org.id, expiresAt: new Date(Date.now() + 30 * 86_400_000) } });
    orgs.push({ orgId: org.id, userId: user.id, token: (await tokens.sign({ userId: user.id, orgId: org.id, sessionId: session.id })).token });
  }
  await database.close();
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    TOKEN_SECRET: secret,
    SEED_DEMO: 'false',
    LOG_LEVEL: 'error',
    MUTATIONS_PER_SECOND_PER_CONNECTION: '1000000',
    MUTATIONS_PER_SECOND_PER_USER: '1000000',
    MAX_CONNECTIONS_PER_USER: '1000000',
    MAX_SUBSCRIPTIONS_PER_CONNECTION: '100',
    // Every simulated client comes from 127.0.0.1; in production a storm's clients come from many addresses.
    MAX_UNAUTHENTICATED_SOCKETS_PER_ADDRESS: '1000000',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  return { env, orgs, secret, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** `npm start`'s code path (src/server/main.ts) in its own process, pinned to core 0. */
let serverBuilt = false;

/** `npm start`'s code path: the server bundle (built once per run, as `npm start` builds it), on plain node. */
export function startTandem(env: Record<string, string>, nodeFlags: string[] = []): Promise<ServerHandle> {
  if (!serverBuilt) {
    execFileSync('npm', ['run', '--silent', 'build:server'], { cwd: root, stdio: 'inherit' });
    serverBuilt = true;
  }
  return startProcess('tandem', ['dist/server/main.mjs'], env, /running at (http:\/\/\S+)[\s\S]*Press Ctrl\+C to stop\./, nodeFlags);
}

/** User + system CPU time of a process so far, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** CPU time every core of the machine spent busy so far, in ms (all processes, ours and others'). */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / CLOCK_TICKS;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
  return kb * 1024;
}

/** The load generator: a child process on core 1 driven by request/reply over IPC. */
export interface LoadGen {
  pid: number;
  call<T = unknown>(command: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/** `nodeArgs`: e.g. `--cpu-prof` to see what the client side of every contestant costs. */
export async function startLoadGen(onProgress: (line: string) => void, nodeArgs: string[] = []): Promise<LoadGen> {
  const [command, argv] = pinned(1, process.execPath, ['--max-old-space-size=4096', ...nodeArgs, '--import', 'tsx', 'bench/loadgen.ts']);
  const child = spawn(command, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let waiting: { resolve: (value: unknown) => void; reject: (error: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    child.on('message', (raw) => {
      const message = raw as { ready?: true; progress?: string; ok?: boolean; result?: unknown; error?: string };
      if (message.ready) return resolve();
      if (message.progress) return onProgress(message.progress);
      const pending = waiting;
      waiting = undefined;
      if (message.ok) pending?.resolve(message.result);
      else pending?.reject(new Error(message.error));
    });
  });
  await ready;
  return {
    pid: child.pid!,
    call<T>(commandMessage: Record<string, unknown>) {
      if (waiting) throw new Error('one load generator command at a time');
      return new Promise<T>((resolve, reject) => {
        waiting = { resolve: resolve as (value: unknown) => void, reject };
        child.send(commandMessage);
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ cmd: 'exit' });
      await exited;
    },
  };
}
