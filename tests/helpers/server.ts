import WebSocket from 'ws';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/app.ts';
import { createLogger } from '../../src/server/logger.ts';
import { createTandemClient, type TandemClient, type TandemClientOptions } from '../../src/client/trpc.ts';
import { createTestApp, type DemoEmail, type TestApp } from './app.ts';

export interface TestServer extends TestApp {
  server: RunningServer;
  /** A real @trpc/client over the WebSocket (with HTTP fallback), signed in as `email`; closed with the server. */
  client(email: DemoEmail, options?: Partial<TandemClientOptions>): Promise<TandemClient>;
}

/** The real HTTP + WebSocket server on a random loopback port, over a fresh in-memory database. */
export async function startTestServer(
  options: Parameters<typeof createTestApp>[0] & { server?: Partial<ServerOptions> } = {},
): Promise<TestServer> {
  const testApp = await createTestApp(options);
  const server = await startServer(testApp.deps, { host: '127.0.0.1', port: 0, logger: createLogger('silent'), ...options.server });
  const clients: TandemClient[] = [];
  return {
    ...testApp,
    server,
    async client(email, overrides = {}) {
      const token = await testApp.tokenFor(email);
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
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((client) => client.close()));
      await server.close();
      await testApp[Symbol.asyncDispose]();
    },
  };
}
