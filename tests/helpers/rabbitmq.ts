import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './process.ts';

export interface RabbitServer extends AsyncDisposable {
  url: string;
  /** Stops the broker (SIGKILL of its Erlang VM: like a crash); `start()` brings it back on the same port and data folder. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The Erlang node name (unique per broker; it appears in the VM's command line). */
  readonly nodeName: string;
  /** The broker's temporary folder (mnesia data, logs, config). */
  readonly dir: string;
  /** The port of the broker's own epmd (Erlang's port mapper), which dispose stops. */
  readonly epmdPort: number;
}

/**
 * rabbitmq-server is missing and TANDEM_SKIP_SYSTEM_CHECK asked to run what can run (vitest.config.ts
 * sets TANDEM_LEFT_OUT): for files that leave out only their RabbitMQ tests.
 */
export const isRabbitLeftOut = (process.env.TANDEM_LEFT_OUT ?? '').split(' ').includes('rabbitmq-server');

/**
 * Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user; the script it wraps runs the
 * broker as whoever calls it. Elsewhere (Homebrew, generic unix tarball) it is on PATH.
 */
const LIB_BINARY = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const binary = existsSync(LIB_BINARY) ? LIB_BINARY : 'rabbitmq-server';
const START_TIMEOUT_MS = 60_000;
/** What is kept of the broker's output for error messages (it is read all along, so the pipes never fill). */
const OUTPUT_LIMIT = 64 * 1024;
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Whether a process of this group is still running (zombies do not count: on a machine whose
 * init does not reap, the VM stays a zombie once it dies). Linux: reads /proc.
 */
function isGroupRunning(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) !== pgid) continue;
    if (state !== 'Z' && state !== 'X') return true;
    // The main thread of a multithreaded VM turns zombie while its other threads still exit (and
    // hold its sockets): dead once it is the last.
    try {
      if (readdirSync(`/proc/${entry}/task`).length > 1) return true;
    } catch {
      // Reaped meanwhile.
    }
  }
  return false;
}

/** The epmd daemon of this port (it detaches from the broker's process group), by its environment. */
function findEpmd(epmdPort: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0]!.endsWith('epmd')) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`ERL_EPMD_PORT=${epmdPort}`)) found.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** Stops the epmd the broker started on `epmdPort` (synchronous: also runs on process exit). */
function killEpmd(epmdPort: number): void {
  spawnSync('epmd', ['-kill'], { env: { ...process.env, ERL_EPMD_PORT: String(epmdPort) }, stdio: 'ignore', timeout: 5_000 });
  // `epmd -kill` is refused while a node is still registered, or epmd is not on PATH: kill it by hand.
  for (const pid of findEpmd(epmdPort)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

/**
 * A real RabbitMQ broker on random loopback ports (AMQP, Erlang distribution and its own epmd)
 * with a temporary folder and a unique node name, so that test files running at once never meet.
 * The data (durable queues, persistent messages) survives `stop()` and `start()`.
 */
export async function startRabbit(): Promise<RabbitServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-rabbitmq-'));
  const [port, distPort, epmdPort] = (await distinctFreePorts(3)) as [number, number, number];
  const nodeName = `tandem${randomBytes(6).toString('hex')}@localhost`;
  writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // The Erlang cookie goes to $HOME/.erlang.cookie.
    HOME: dir,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_PID_FILE: path.join(dir, 'pid'),
    RABBITMQ_GENERATED_CONFIG_DIR: path.join(dir, 'gen'),
  };
  let child: ChildProcess | undefined;
  let output = '';
  const keep = (chunk: Buffer | string) => {
    output += chunk;
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc?.pid) return;
    const exited = proc.exitCode === null && proc.signalCode === null ? new Promise((resolve) => proc.once('exit', resolve)) : undefined;
    // rabbitmq-server is a shell script that runs the VM (beam.smp) in the background and waits for
    // it: both lead or belong to the group `detached` made, so SIGKILL of the group reaches the VM.
    killGroup(proc.pid);
    await exited;
    const deadline = Date.now() + 10_000;
    while (isGroupRunning(proc.pid)) {
      if (Date.now() > deadline) throw new Error(`the Erlang VM of ${nodeName} outlived SIGKILL`);
      await sleep(20);
    }
  };

  const cleanUp = () => {
    if (child?.pid) killGroup(child.pid);
    killEpmd(epmdPort);
    rmSync(dir, { recursive: true, force: true });
  };
  // A test that dies before it disposes leaves no broker behind: the VM is in a process group of its
  // own, which neither Ctrl+C nor the end of the test worker (vitest sends it SIGTERM) reaches.
  const onSignal = (signal: NodeJS.Signals) => {
    unwatch();
    cleanUp();
    // The default action, now that this listener is gone (unless another one is left to run first).
    process.kill(process.pid, signal);
  };
  const unwatch = () => {
    process.off('exit', cleanUp);
    for (const signal of EXIT_SIGNALS) process.off(signal, onSignal);
  };
  process.once('exit', cleanUp);
  for (const signal of EXIT_SIGNALS) process.once(signal, onSignal);

  const start = async () => {
    if (child) throw new Error(`${nodeName} is running already`);
    output = '';
    const proc = spawn(binary, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = proc;
    proc.stderr!.on('data', keep);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => settle(new Error(`rabbitmq-server did not start within ${START_TIMEOUT_MS / 1000} s:\n${output}`)), START_TIMEOUT_MS);
        const settle = (error?: Error) => {
          clearTimeout(timer);
          proc.stdout!.off('data', check);
          proc.off('exit', exit);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (output.includes('Starting broker... completed with')) settle();
        };
        const exit = (code: number | null, signal: NodeJS.Signals | null) => settle(new Error(`rabbitmq-server exited with ${code ?? signal}:\n${output}`));
        proc.stdout!.on('data', keep);
        proc.stdout!.on('data', check);
        proc.once('exit', exit);
        proc.once('error', (error) => settle(new Error(`rabbitmq-server could not run (apt-get install -y rabbitmq-server; npm test does): ${error.message}`)));
      });
    } catch (error) {
      await stop().catch(() => {});
      throw error;
    }
  };

  const dispose = async () => {
    try {
      await stop();
    } finally {
      unwatch();
      cleanUp();
    }
  };

  try {
    await start();
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    nodeName,
    dir,
    epmdPort,
    stop,
    start,
    [Symbol.asyncDispose]: dispose,
  };
}
