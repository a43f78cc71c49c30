import { startServer } from './app.ts';
import { createApp } from './bootstrap.ts';
import { readConfig } from './config.ts';
import { createLogger } from './logger.ts';

// Reads the configuration, starts the server, handles signals: nothing else.
const config = readConfig();
const logger = createLogger(config.LOG_LEVEL);
const app = await createApp(config, logger);
const server = await startServer(app.deps, {
  host: config.HOST,
  port: config.PORT,
  logger,
  keepAlive: { pingMs: config.KEEPALIVE_PING_MS, pongWaitMs: config.KEEPALIVE_PONG_WAIT_MS },
  drainTimeoutMs: config.SHUTDOWN_DRAIN_MS,
  batchWrites: config.WS_BATCH_WRITES,
  requestLimits: {
    maxBatchSize: config.MAX_BATCH_SIZE,
    maxInflightPerConnection: config.MAX_REQUESTS_IN_FLIGHT_PER_CONNECTION,
    authTimeoutMs: config.AUTH_TIMEOUT_MS,
    maxUnauthenticatedPerAddress: config.MAX_UNAUTHENTICATED_SOCKETS_PER_ADDRESS,
  },
  allowedOrigins: config.ALLOWED_ORIGINS,
});

console.log(`Tandem is running at ${server.url}  (tRPC: ${server.trpcUrl}, WebSocket: ${server.wsUrl})`);
console.log(`Database: ${app.describeDatabase}`);
if (app.demoLogins.length) {
  console.log(`Demo logins (password ${app.demoPassword}):`);
  for (const login of app.demoLogins) console.log(`  ${login.email.padEnd(20)} ${login.role.padEnd(6)} ${login.org}`);
}
console.log('Press Ctrl+C to stop.');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    void server
      .close()
      .then(() => app.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { err: error });
          process.exit(1);
        },
      );
  });
}
