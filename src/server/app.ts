import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { WebSocketServer } from 'ws';
import { DEFAULT_MAX_BATCH_SIZE } from '../shared/limits.ts';
import { createWebhookHandler } from './comms/webhooks.ts';
import { clientAddress, createHttpContextFactory, createWsContextFactory, type AppDeps, type Context } from './context.ts';
import { keepConnectionsAlive } from './transport/keep-alive.ts';
import type { Logger } from './logger.ts';
import { corsResponseMeta, OriginPolicy } from './origins.ts';
import { appRouter } from './routers/_app.ts';
import { errorIdOf } from './errors.ts';
import { API_SECURITY_HEADERS, serveWebApp } from './web.ts';
import { BatchingWebSocket } from './transport/ws-batching.ts';
import { serveTrpcOverWebSocket } from './transport/ws-handler.ts';
import { wsEncoder } from './transport/ws-encoder.ts';

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
  /** Browser origins besides the server's own that may open a WebSocket or read /trpc answers (origins.ts). @default the Vite dev server's */
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

const TRPC_PATH = '/trpc';
/** Larger frames are refused by `ws` before parsing: no client can make the server buffer more. */
const MAX_WS_PAYLOAD = 1024 * 1024;
const MAX_HTTP_BODY = 1024 * 1024;
const HTTP_IDLE_TIMEOUT_MS = 60_000;

/**
 * What the WebSocket handler gets as a connection's request: it keeps it for the connection's
 * lifetime (for createContext and onError), and the IncomingMessage, done once the
 * socket is upgraded, holds its stream state and the raw header list besides: 0.6 KB
 * per connection. What a context reads (url, method, headers, socket) is kept.
 */
function upgradeRequest(req: IncomingMessage): IncomingMessage {
  return { url: req.url, method: req.method, headers: req.headers, socket: req.socket } as IncomingMessage;
}

/** `/trpc/a,b,c?batch=1`: more calls than allowed in one request. */
function isOversizedBatch(url: string | undefined, pathname: string, maxBatchSize: number): boolean {
  if (!url?.includes('batch=1')) return false;
  let calls = 1;
  for (let i = TRPC_PATH.length; i < pathname.length; i++) if (pathname.charCodeAt(i) === 44 /* , */) calls += 1;
  return calls > maxBatchSize;
}

/** tRPC's error shape for TOO_MANY_REQUESTS, for a request refused before it reaches tRPC's handler. */
function tooManyRequestsResponse(res: ServerResponse, message: string) {
  const error = { message, code: TRPC_ERROR_CODES_BY_KEY.TOO_MANY_REQUESTS, data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, retryAfterMs: 0 } };
  res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
}

/** One HTTP server on one port: tRPC over HTTP and WebSocket at /trpc, and GET /healthz. */
export async function startServer(deps: AppDeps, options: ServerOptions): Promise<RunningServer> {
  const limits: RequestLimits = { ...defaultRequestLimits, ...options.requestLimits };
  const addressOf = (req: IncomingMessage) => clientAddress(req, deps.trustedProxies);
  const onError = ({ error, path, ctx }: { error: TRPCError; path?: string | undefined; ctx?: Context | undefined }) => {
    if (error.code !== 'INTERNAL_SERVER_ERROR') return;
    // The client was told only this id (trpc.ts): everything else is here, the thrown error under `err` with its stack.
    const err = error.cause instanceof Error ? error.cause : error;
    options.logger.error('procedure failed', { errorId: errorIdOf(error), path, connection: ctx?.connection.id, userId: ctx?.session?.user.id, err });
  };
  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PATH}/`,
    maxBodySize: MAX_HTTP_BODY,
    // What isOversizedBatch missed (an encoded comma) is still refused, as BAD_REQUEST.
    maxBatchSize: limits.maxBatchSize,
    createContext: createHttpContextFactory(deps),
    onError,
    // CORS for allowed origins; a subscription over HTTP is refused (context.ts), and says so with its status too, so an EventSource does not reconnect.
    responseMeta: ({ type }) => (type === 'subscription' ? { ...corsResponseMeta(), status: 405 } : corsResponseMeta()),
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
      if (origins.applyCors(req, res)) return;
      if (isOversizedBatch(req.url, pathname, limits.maxBatchSize)) {
        deps.metrics.rateLimited.inc({ limit: 'requests per batch' });
        tooManyRequestsResponse(res, `Too many requests (requests per batch: at most ${limits.maxBatchSize})`);
        return;
      }
      trpcHandler(req, res);
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
  // A frame may carry that many calls and, beyond them, one per subscription a connection may
  // have: tRPC's client resends every open subscription in one frame when it reconnects.
  const wsBatchSize = limits.maxBatchSize + deps.limits.config.maxSubscriptionsPerConnection;
  // tRPC's WebSocket protocol (ws-handler.ts); keep-alive.ts sends its PINGs, one timer for all connections.
  const wsHandler = serveTrpcOverWebSocket({
    wss,
    router: appRouter,
    createContext: createWsContextFactory(deps),
    encoder: wsEncoder,
    onError,
    directDelivery: deps.directDelivery,
    maxBatchSize: wsBatchSize,
    authTimeoutMs: limits.authTimeoutMs,
    clientAddress: addressOf,
    flow: {
      maxBufferedBytes: deps.backpressure.maxBufferedBytes,
      drainTimeoutMs: deps.backpressure.drainTimeoutMs,
      maxInflight: limits.maxInflightPerConnection,
      // Reading stops once half of these wait: what waits is at most what was read already, about a frame.
      maxWaiting: wsBatchSize,
    },
    onSlowConsumer: (ctx) => {
      deps.metrics.slowConsumersDropped.inc({ action: 'closed' });
      options.logger.warn('closing a slow consumer', { connection: ctx?.connection.id, userId: ctx?.session?.user.id });
    },
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
    // Sockets that have not authenticated cost memory and a timer each: a cap per client address.
    if (wsHandler.unauthenticatedFrom(addressOf(req) ?? 'unknown') >= limits.maxUnauthenticatedPerAddress) {
      deps.metrics.rateLimited.inc({ limit: 'unauthenticated sockets per address' });
      socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, upgradeRequest(req)));
  });

  // An HTTP answer its client does not read for this long is dropped with its connection,
  // rather than held (upgraded WebSockets are not affected: ws clears the timeout).
  server.setTimeout(HTTP_IDLE_TIMEOUT_MS);
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
