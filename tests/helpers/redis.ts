import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './process.ts';

export interface RedisServer extends AsyncDisposable {
  url: string;
  /** Stops the server (SIGKILL: like a crash); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * redis-server is missing and TANDEM_SKIP_SYSTEM_CHECK asked to run what can run (vitest.config.ts
 * sets TANDEM_LEFT_OUT): for files that leave out only their Redis tests.
 */
export const isRedisLeftOut = (process.env.TANDEM_LEFT_OUT ?? '').split(' ').includes('redis-server');

/** A real redis-server on a random loopback port with a temporary folder, no persistence. */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 20_000);
      proc.stdout!.on('data', (chunk) => {
        output += chunk;
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`redis-server could not run (apt-get install -y redis-server; npm test does): ${error.message}`));
      });
    });
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async [Symbol.asyncDispose]() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
