/**
 * The server's heap per idle connection, in one process, to see where memory goes (the
 * `memory` scenario of `npm run bench` measures RSS across processes instead):
 *
 *   node --expose-gc --import tsx bench/heap-probe.ts [connections=1000] [direct|iterator] [sub|nosub] [path=jobs.onChange] [snapshot]
 *
 * The client sockets run in a child process, so the figure is the server's alone:
 * compare `nosub` (what a connection costs) with `sub` (plus one subscription). With
 * `snapshot` it writes heap snapshots before and after the connections
 * (heap-probe-before/after.heapsnapshot) to diff by constructor in DevTools.
 *
 * tsx compiles with esbuild's keepNames, which makes every closure a dictionary-mode
 * object (about 3 KB more per subscription); for the figures `npm start` would show,
 * run it bundled as the server is:
 *
 *   npx esbuild bench/heap-probe.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/heap-probe.mjs
 *   node --expose-gc node_modules/.cache/heap-probe.mjs 3000 direct sub events.onAny
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import WebSocket from 'ws';

const args = process.argv.slice(2);
if (args[0] === '--clients') await runClients(args.slice(1));
else await probe(args);

async function probe(argv: string[]) {
  const [{ startServer }, { createApp }, { seedDemoData }, { createLogger }] = await Promise.all([
    import('../src/server/app.ts'),
    import('../src/server/bootstrap.ts'),
    import('../src/server/db/seed.ts'),
    import('../src/server/logger.ts'),
  ]);
  const [count = '1000', mode = 'direct', subscribe = 'sub', path = 'jobs.onChange', snapshot] = argv;
  const connections = Number(count);
  const app = await createApp(
    {
      DATA_DIR: 'memory://',
      TOKEN_SECRET: 'heap-probe-secret-heap-probe-secret!!',
      TOKEN_TTL_SECONDS: 3600,
      SEED_DEMO: false,
      WS_DIRECT_DELIVERY: mode !== 'iterator',
      MAX_CONNECTIONS_PER_USER: connections * 2,
    },
    createLogger('silent'),
  );
  await seedDemoData(app.deps, { perModule: 0 });
  const server = await startServer(app.deps, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
  const user = await app.deps.db.user.findFirstOrThrow({ where: { email: 'bob@acme.test' } });
  const { token } = await app.deps.sessions.signIn(user);
  const collect = () => {
    for (let i = 0; i < 5; i++) (globalThis as { gc?: () => void }).gc?.();
  };
  if (!(globalThis as { gc?: unknown }).gc) console.warn('Run with node --expose-gc for stable figures');
  const connect = async (n: number) => {
    const child = fork(fileURLToPath(import.meta.url), ['--clients', server.wsUrl, token, String(n), subscribe, path]);
    await new Promise((resolve) => child.once('message', resolve));
    return child;
  };

  // A first round compiles and caches what every connection uses: not a per-connection cost.
  const warmUp = await connect(20);
  warmUp.kill();
  await new Promise((resolve) => warmUp.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, 500));
  collect();
  const before = process.memoryUsage().heapUsed;
  if (snapshot) writeHeapSnapshot('heap-probe-before.heapsnapshot');
  const clients = await connect(connections);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  collect();
  const perConnection = (process.memoryUsage().heapUsed - before) / connections / 1024;
  if (snapshot) writeHeapSnapshot('heap-probe-after.heapsnapshot');
  console.log(`${connections} connections, ${subscribe === 'sub' ? path : 'no subscription'}, ${mode}: ${perConnection.toFixed(2)} KB server heap per connection`);
  clients.kill();
  await server.close();
  await app.close();
}

/** The child: opens the connections, says when they are all live, answers PINGs until it is killed. */
async function runClients([url, token, count, subscribe, path]: string[]) {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < Number(count); i++) {
    const socket = new WebSocket(`${url}?connectionParams=1`, { perMessageDeflate: false });
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
    const request = subscribe === 'sub' ? { method: 'subscription', params: { path, input: {} } } : { method: 'query', params: { path: 'auth.me' } };
    socket.send(JSON.stringify({ id: 1, jsonrpc: '2.0', ...request }));
    await new Promise<void>((resolve) => socket.once('message', () => resolve()));
    socket.on('message', (data) => String(data) === 'PING' && socket.send('PONG'));
    sockets.push(socket);
  }
  process.send?.('ready');
}
