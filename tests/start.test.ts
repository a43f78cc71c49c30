import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient, createTandemClient } from '../src/client/trpc.ts';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-start-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exit: Promise<number | null>;
}

/** `npm start`'s code path (src/server/main.ts) as its own process, on a random port. */
async function start(): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', TOKEN_SECRET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line within 60 s:\n${output}`)), 60_000);
    child.stdout!.on('data', () => {
      const match = output.match(/running at (http:\/\/\S+)/);
      if (match && output.includes('carol@globex.test')) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exit.then((code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
  return { child, url, output: () => output, exit };
}

describe('npm start', () => {
  it('migrates and seeds an empty data folder, prints the demo logins, serves, and exits 0 on SIGTERM', async () => {
    const server = await start();
    expect(server.output()).toMatch(/alice@acme\.test\s+admin\s+Acme Realty/);
    expect(server.output()).toMatch(/bob@acme\.test\s+agent/);
    expect(server.output()).toContain('demo1234');
    const { token } = await createHttpClient(server.url).auth.login.mutate({ email: 'bob@acme.test', password: 'demo1234' });
    const api = createHttpClient(server.url, () => token);
    for (const module of ['jobs', 'escrows', 'listings', 'clients', 'leads', 'appointments'] as const) {
      expect((await api[module].list.query({ limit: 200 })).items.length).toBeGreaterThanOrEqual(20);
    }
    expect(server.output()).not.toContain(token);

    // A live client is told to reconnect and its socket is closed when the server stops.
    const live = createTandemClient({ url: server.url, getToken: () => token, WebSocket: WebSocket as never, retryDelayMs: () => 60_000 });
    await new Promise<void>((resolve) => live.connection.subscribe(({ state }) => state === 'open' && resolve()));
    server.child.kill('SIGTERM');
    expect(await server.exit).toBe(0);
    await live.close();

    // A restart keeps the data (no second seed) and the generated token secret.
    const again = await start();
    const sameToken = createHttpClient(again.url, () => token);
    expect((await sameToken.auth.me.query()).email).toBe('bob@acme.test');
    expect((await sameToken.jobs.list.query({ limit: 200 })).items).toHaveLength(20);
    again.child.kill('SIGINT');
    expect(await again.exit).toBe(0);
  }, 120_000);
});
