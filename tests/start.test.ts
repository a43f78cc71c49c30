import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient, createTandemClient } from '../src/client/trpc.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';

let dataDir: string;
/** A bundle of its own inside the project (other tests may build `dist/server/` meanwhile). */
const bundleDir = path.join('dist', `test-server-${process.pid}`);
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-start-'));
  // What `npm start` runs: the server bundle (the web app build is tested in tests/web/serve.test.ts).
  execFileSync('npm', ['run', '--silent', 'build:server', '--', `--outfile=${path.join(bundleDir, 'main.mjs')}`], { stdio: 'inherit' });
}, 120_000);
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
  await rm(bundleDir, { recursive: true, force: true });
});

/** `npm start`'s code path as its own process, on a random port. */
function start(): Promise<ServerProcess> {
  return startServerProcess({ PORT: '0', DATA_DIR: dataDir }, { bundle: path.join(bundleDir, 'main.mjs') });
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
