/**
 * Heap per idle connection, in one process, to see where memory goes (the `memory`
 * scenario of `npm run bench` measures RSS across processes instead):
 *
 *   node --expose-gc --import tsx bench/heap-probe.ts [connections=1000] [direct|iterator] [sub|nosub] [path=jobs.onChange]
 *
 * The client sockets live in this process too, so compare runs with each other
 * (e.g. `nosub` vs `sub`, or one subscription path against another), not with
 * the absolute figures of the benchmark.
 */
import WebSocket from 'ws';
import { startServer } from '../src/server/app.ts';
import { createApp, type AppConfig } from '../src/server/bootstrap.ts';
import { seedDemoData } from '../src/server/db/seed.ts';
import { createLogger } from '../src/server/logger.ts';

const [count = '1000', mode = 'direct', subscribe = 'sub', path = 'jobs.onChange'] = process.argv.slice(2);
const connections = Number(count);
const config: AppConfig = {
  DATA_DIR: 'memory://',
  TOKEN_SECRET: 'heap-probe-secret-heap-probe-secret!!',
  TOKEN_TTL_SECONDS: 3600,
  SEED_DEMO: false,
  WS_DIRECT_DELIVERY: mode !== 'iterator',
  MAX_CONNECTIONS_PER_USER: connections * 2,
};
const app = await createApp(config, createLogger('silent'));
await seedDemoData(app.deps, { perModule: 0 });
const server = await startServer(app.deps, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
const user = await app.deps.db.user.findFirstOrThrow({ where: { email: 'bob@acme.test' } });
const { token } = await app.deps.tokens.sign({ userId: user.id, orgId: user.orgId });
const collect = () => {
  for (let i = 0; i < 5; i++) (globalThis as { gc?: () => void }).gc?.();
};
if (!(globalThis as { gc?: unknown }).gc) console.warn('Run with node --expose-gc for stable figures');

collect();
const before = process.memoryUsage().heapUsed;
const sockets: WebSocket[] = [];
for (let i = 0; i < connections; i++) {
  const socket = new WebSocket(`${server.wsUrl}?connectionParams=1`, { perMessageDeflate: false });
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
  const request = subscribe === 'sub' ? { method: 'subscription', params: { path, input: {} } } : { method: 'query', params: { path: 'auth.me' } };
  socket.send(JSON.stringify({ id: 1, jsonrpc: '2.0', ...request }));
  await new Promise<void>((resolve) => socket.once('message', () => resolve()));
  sockets.push(socket);
}
await new Promise((resolve) => setTimeout(resolve, 1000));
collect();
const perConnection = (process.memoryUsage().heapUsed - before) / connections / 1024;
console.log(`${connections} connections, ${subscribe === 'sub' ? path : 'no subscription'}, ${mode}: ${perConnection.toFixed(1)} KB heap per connection (server and client objects)`);
for (const socket of sockets) socket.terminate();
await server.close();
await app.close();
