import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { WebSocketServer } from 'ws';
import { createWebhookHandler } from './comms/webhooks.ts';
import { createHttpContextFactory, createWsContextFactory, type AppDeps } from './context.ts';
import { withSubscriptionRequest } from './events/subscribe.ts';
import { keepConnectionsAlive } from './keep-alive.ts';
import type { Logger } from './logger.ts';
import { corsResponseMeta, OriginPolicy } from './origins.ts';
import { appRouter } from './routers/_app.ts';
import { errorIdOf } from './trpc.ts';
import { API_SECURITY_HEADERS, serveWebApp } from './web.ts';
import { BatchingWebSocket } from './ws-batching.ts';
import { serveTrpcOverWebSocket } from './ws-handler.ts';
import { wsEncoder } from './ws-encoder.ts';

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
  /** Browser origins besides the server's own that may open a WebSocket or read /trpc answers (origins.ts). @default the Vite dev server's */
  allowedOrigins?: readonly string[];
}

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

const TRPC_PATH = '/trpc';
/** Larger frames are refused by `ws` before parsing: no client can make the server buffer more. */
const MAX_WS_PAYLOAD = 1024 * 1024;
const MAX_HTTP_BODY = 1024 * 1024;

/**
 * What the WebSocket handler gets as a connection's request: it keeps it for the connection's
 * lifetime (for createContext and onError), and the IncomingMessage, done once the
 * socket is upgraded, holds its stream state and the raw header list besides: 0.6 KB
 * per connection. What a context reads (url, method, headers, socket) is kept.
 */
function upgradeRequest(req: IncomingMessage): IncomingMessage {
  return { url: req.url, method: req.method, headers: req.headers, socket: req.socket } as IncomingMessage;
}

/** One HTTP server on one port: tRPC over HTTP and WebSocket at /trpc, and GET /healthz. */
export async function startServer(deps: AppDeps, options: ServerOptions): Promise<RunningServer> {
  const onError = ({ error, path }: { error: { code: string; message: string; cause?: unknown; stack?: string }; path?: string }) => {
    if (error.code !== 'INTERNAL_SERVER_ERROR') return;
    // The client was told only this id (trpc.ts): everything else is here.
    const stack = error.cause instanceof Error ? error.cause.stack : error.stack;
    options.logger.error('procedure failed', { errorId: errorIdOf(error), path, message: error.message, cause: String(error.cause), stack });
  };
  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PATH}/`,
    maxBodySize: MAX_HTTP_BODY,
    createContext: createHttpContextFactory(deps),
    onError,
    responseMeta: corsResponseMeta,
  });

  const origins = new OriginPolicy(options.allowedOrigins);
  const webhooks = createWebhookHandler(deps, { ringTimeoutMs: deps.callRingTimeoutMs });
  let draining = false;
  const maxBufferedBytes = () => {
    let max = 0;
    for (const client of wss.clients) max = Math.max(max, client.bufferedAmount);
    return max;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // Defaults for every answer; the web app's own (web.ts) replace them on its files.
    for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) res.setHeader(name, value);
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
    } else if (pathname === '/metrics') {
      deps.metrics.connections.set(wss.clients.size);
      deps.metrics.maxOutboundBuffer.set(maxBufferedBytes());
      deps.metrics.subscriptions.set(deps.bus.listenerCount());
      void deps.metrics.registry.metrics().then((text) => res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(text));
    } else if (pathname.startsWith(`${TRPC_PATH}/`)) {
      if (!origins.applyCors(req, res)) trpcHandler(req, res);
    } else if (webhooks(req, res, pathname)) {
      // Served.
    } else if (!serveWebApp(req, res)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not found' }));
    }
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_PAYLOAD,
    ...(options.batchWrites !== false ? { WebSocket: BatchingWebSocket } : {}),
  }) as WebSocketServer;
  // tRPC's WebSocket protocol (ws-handler.ts); keep-alive.ts sends its PINGs, one timer for all connections.
  const wsHandler = serveTrpcOverWebSocket({
    wss,
    router: appRouter,
    createContext: createWsContextFactory(deps),
    encoder: wsEncoder,
    onError,
    subscriptionContext: withSubscriptionRequest,
  });
  const stopKeepAlive = keepConnectionsAlive(wss, { pingMs: options.keepAlive?.pingMs ?? 30_000, pongWaitMs: options.keepAlive?.pongWaitMs ?? 5_000 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== TRPC_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    // Browsers send Origin on every upgrade and CORS does not apply to WebSockets: a page of another site is refused here.
    if (!origins.allowsUpgrade(req)) {
      options.logger.warn('websocket refused: origin not allowed', { origin: req.headers.origin, remote: req.socket.remoteAddress });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, upgradeRequest(req)));
  });

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
    connectionCount: () => wss.clients.size,
    maxBufferedBytes,
    close() {
      closing ??= (async () => {
        // Stop accepting: no new connections or upgrades; requests on open connections still run.
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        wsHandler.broadcastReconnectNotification();
        // Let mutations in flight commit and answer; a client cut off later retries with its idempotencyKey.
        const drained = await deps.inflight.drained(options.drainTimeoutMs ?? 10_000);
        if (!drained) options.logger.warn('shutdown: mutations still running after the drain timeout', { inflight: deps.inflight.count });
        for (const client of wss.clients) client.close(1001, 'Server shutting down');
        // A peer that never answers the closing handshake would hold the shutdown for ws's 30 s timeout.
        const deadline = Date.now() + 1_000;
        while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        for (const client of wss.clients) client.terminate();
        stopKeepAlive();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
