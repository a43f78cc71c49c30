import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { DEFAULT_MAX_BATCH_SIZE } from '../shared/limits.ts';
import { createMediaHandler } from './carriers/media.ts';
import { createWhatsAppWebhookHandler } from './carriers/whatsapp-webhooks.ts';
import { createUploadHandler } from './comms/upload-doors.ts';
import { createWebhookHandler } from './comms/webhooks.ts';
import { clientAddress, type AppDeps } from './context.ts';
import { errorIdOf } from './errors.ts';
import type { Logger } from './logger.ts';
import { createHttpDoor, TRPC_PATH, type ProcedureErrorHandler } from './transport/http.ts';
import { OriginPolicy } from './transport/origins.ts';
import { API_SECURITY_HEADERS, serveWebApp } from './transport/web.ts';
import { createWebSocketDoor } from './transport/ws.ts';

export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
  keepAlive?: { pingMs: number; pongWaitMs: number };
  /** How long a shutdown waits for mutations in flight. @default 10000 */
  drainTimeoutMs?: number;
  /** Write each socket's frames of one event-loop turn at once (see ws-batching.ts). @default true */
  batchWrites?: boolean;
  /** What one client may make the server hold (see `defaultRequestLimits`). */
  requestLimits?: Partial<RequestLimits>;
  /** Browser origins besides the server's own that may open a WebSocket or read /trpc answers (transport/origins.ts). @default the Vite dev server's */
  allowedOrigins?: readonly string[];
}

/** Bounds on what one connection or request may ask of the server at once (docs/SECURITY.md). */
export interface RequestLimits {
  /**
   * Calls in one HTTP batch; a larger batch is refused whole with TOO_MANY_REQUESTS. A
   * WebSocket frame may carry `maxSubscriptionsPerConnection` more (a reconnecting
   * client's subscriptions come in one frame).
   */
  maxBatchSize: number;
  /** Requests one WebSocket connection runs at once; more wait (the connection is not read meanwhile). */
  maxInflightPerConnection: number;
  /** A WebSocket without valid `connectionParams` this long after it opened is closed with 4001. */
  authTimeoutMs: number;
  /** WebSockets not yet authenticated from one client address; past it, upgrades are answered 429. */
  maxUnauthenticatedPerAddress: number;
}

export const defaultRequestLimits: RequestLimits = {
  maxBatchSize: DEFAULT_MAX_BATCH_SIZE,
  maxInflightPerConnection: 8,
  authTimeoutMs: 5_000,
  maxUnauthenticatedPerAddress: 500,
};

export interface RunningServer {
  url: string;
  port: number;
  /** tRPC over HTTP and the WebSocket upgrade, both at `/trpc`. */
  trpcUrl: string;
  wsUrl: string;
  /** Live WebSocket connections. */
  connectionCount(): number;
  /** The largest outbound buffer of any connection, in bytes (what slow consumers would grow). */
  maxBufferedBytes(): number;
  /** Tells clients to reconnect, closes every connection and the port. */
  close(): Promise<void>;
}

const HTTP_IDLE_TIMEOUT_MS = 60_000;

/** One HTTP server on one port: tRPC over HTTP and WebSocket at /trpc, and GET /healthz. */
export async function startServer(deps: AppDeps, options: ServerOptions): Promise<RunningServer> {
  const limits: RequestLimits = { ...defaultRequestLimits, ...options.requestLimits };
  const addressOf = (req: IncomingMessage) => clientAddress(req, deps.trustedProxies);
  const onError: ProcedureErrorHandler = ({ error, path, ctx }) => {
    if (error.code !== 'INTERNAL_SERVER_ERROR') return;
    // The client was told only this id (trpc.ts): everything else is here, the thrown error under `err` with its stack.
    const err = error.cause instanceof Error ? error.cause : error;
    options.logger.error('procedure failed', { errorId: errorIdOf(error), path, connection: ctx?.connection.id, userId: ctx?.session?.user.id, err });
  };
  const origins = new OriginPolicy(options.allowedOrigins);
  const trpcOverHttp = createHttpDoor(deps, { maxBatchSize: limits.maxBatchSize, origins, onError });
  const trpcOverWs = createWebSocketDoor(deps, {
    logger: options.logger,
    origins,
    onError,
    clientAddress: addressOf,
    maxBatchSize: limits.maxBatchSize,
    maxInflightPerConnection: limits.maxInflightPerConnection,
    authTimeoutMs: limits.authTimeoutMs,
    maxUnauthenticatedPerAddress: limits.maxUnauthenticatedPerAddress,
    batchWrites: options.batchWrites !== false,
    keepAlive: { pingMs: options.keepAlive?.pingMs ?? 30_000, pongWaitMs: options.keepAlive?.pongWaitMs ?? 5_000 },
  });
  const webhooks = createWebhookHandler(deps, { ringTimeoutMs: deps.callRingTimeoutMs });
  const media = createMediaHandler(deps);
  const uploads = createUploadHandler(deps, { quotaBytes: deps.filesQuotaBytes });
  const whatsapp = createWhatsAppWebhookHandler(deps);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // An answer its client does not read for this long is dropped with its connection, rather
    // than held. Set per request, not with server.setTimeout: that would also arm every socket
    // later upgraded to a WebSocket, and a cleared socket timer stays on its socket (0.2 KB each).
    res.setTimeout(HTTP_IDLE_TIMEOUT_MS);
    // Defaults for every answer; the web app's own (web.ts) replace them on its files.
    for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) res.setHeader(name, value);
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
    } else if (pathname === '/metrics') {
      deps.metrics.connections.set(trpcOverWs.connectionCount());
      deps.metrics.maxOutboundBuffer.set(trpcOverWs.maxBufferedBytes());
      deps.metrics.subscriptions.set(deps.bus.listenerCount());
      void deps.metrics.registry.metrics().then((text) => res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(text));
    } else if (pathname.startsWith(`${TRPC_PATH}/`)) {
      trpcOverHttp(req, res, pathname);
    } else if (webhooks(req, res, pathname) || whatsapp(req, res, pathname) || media(req, res, pathname) || uploads(req, res, pathname)) {
      // Served.
    } else if (!serveWebApp(req, res)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not found' }));
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => trpcOverWs.upgrade(req, socket, head));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    trpcUrl: `${url}${TRPC_PATH}`,
    wsUrl: `ws://${host}:${port}${TRPC_PATH}`,
    connectionCount: trpcOverWs.connectionCount,
    maxBufferedBytes: trpcOverWs.maxBufferedBytes,
    close() {
      closing ??= (async () => {
        // Stop accepting: no new connections or upgrades; requests on open connections still run.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        trpcOverWs.drain();
        // Let mutations in flight commit and answer; a client cut off later retries with its idempotencyKey.
        const drained = await deps.inflight.drained(options.drainTimeoutMs ?? 10_000);
        if (!drained) options.logger.warn('shutdown: mutations still running after the drain timeout', { inflight: deps.inflight.count });
        await trpcOverWs.close();
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
