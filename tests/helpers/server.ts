import { Blob as NodeBlob, File as NodeFile } from 'node:buffer';
import WebSocket from 'ws';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/app.ts';
import { createLogger } from '../../src/server/logger.ts';
import { createTandemClient, type TandemClient, type TandemClientOptions } from '../../src/client/trpc.ts';
import { createTestApp, type DemoEmail, type TestApp } from './app.ts';

export interface TestServer extends TestApp {
  /** The first node's server (the only one outside the `multinode` project). */
  server: RunningServer;
  /** One server per node of `apps`, in the same order. */
  servers: readonly RunningServer[];
  /**
   * A real @trpc/client over the WebSocket (with HTTP fallback), signed in as `email`; closed with the server.
   * With several nodes, each client without a `url` of its own goes to the next node's server in turn (A, B, A, …).
   */
  client(email: DemoEmail, options?: Partial<TandemClientOptions>): Promise<TandemClient>;
}

/** The real HTTP + WebSocket server on a random loopback port, over a fresh in-memory database (one server per node). */
export async function startTestServer(options: Parameters<typeof createTestApp>[0] & { server?: Partial<ServerOptions> } = {}): Promise<TestServer> {
  // In a jsdom test the server runs beside the page, and jsdom's Blob and File cannot be
  // read back: PGlite hands its engine's files to itself as the global Blob and File.
  globalThis.Blob = NodeBlob as typeof Blob;
  globalThis.File = NodeFile as typeof File;
  const testApp = await createTestApp(options);
  const servers: RunningServer[] = [];
  const clients: TandemClient[] = [];
  const close = async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const server of servers) await server.close();
    await testApp[Symbol.asyncDispose]();
  };
  try {
    for (const app of testApp.apps) servers.push(await startServer(app.deps, { host: '127.0.0.1', port: 0, logger: createLogger('silent'), ...options.server }));
  } catch (error) {
    await close();
    throw error;
  }
  let nextServer = 0;
  return {
    ...testApp,
    server: servers[0]!,
    servers,
    async client(email, overrides = {}) {
      const token = await testApp.tokenFor(email);
      const server = servers[nextServer++ % servers.length]!;
      const client = createTandemClient({
        url: server.url,
        getToken: () => token,
        WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
        retryDelayMs: () => 50,
        pollIntervalMs: 50,
        ...overrides,
      });
      clients.push(client);
      return client;
    },
    [Symbol.asyncDispose]: close,
  };
}
