import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { createWsContextFactory, type AppDeps } from '../context.ts';
import type { Logger } from '../logger.ts';
import { appRouter } from '../routers/_app.ts';
import type { ProcedureErrorHandler } from './http.ts';
import { TRPC_PATH } from './http.ts';
import { keepConnectionsAlive } from './keep-alive.ts';
import type { OriginPolicy } from './origins.ts';
import { BatchingWebSocket } from './ws-batching.ts';
import { wsEncoder } from './ws-encoder.ts';
import { serveTrpcOverWebSocket } from './ws-handler.ts';

/** Larger frames are refused by `ws` before parsing: no client can make the server buffer more. */
const MAX_WS_PAYLOAD = 1024 * 1024;

export interface WebSocketDoorOptions {
  logger: Logger;
  origins: OriginPolicy;
  onError: ProcedureErrorHandler;
  clientAddress: (req: IncomingMessage) => string | undefined;
  /** Calls one frame may carry, besides a reconnecting client's subscriptions. */
  maxBatchSize: number;
  maxInflightPerConnection: number;
  authTimeoutMs: number;
  maxUnauthenticatedPerAddress: number;
  /** Write each socket's frames of one event-loop turn at once (ws-batching.ts). */
  batchWrites: boolean;
  keepAlive: { pingMs: number; pongWaitMs: number };
}

/**
 * What the WebSocket handler gets as a connection's request: it keeps it for the connection's
 * lifetime (for createContext and onError), and the IncomingMessage, done once the
 * socket is upgraded, holds its stream state and the raw header list besides: 0.6 KB
 * per connection. What a context reads (url, method, headers, socket) is kept.
 */
function upgradeRequest(req: IncomingMessage): IncomingMessage {
  return { url: req.url, method: req.method, headers: req.headers, socket: req.socket } as IncomingMessage;
}

/** tRPC over the WebSocket at `/trpc`: who may upgrade, the protocol (ws-handler.ts), PINGs, and closing it all. */
export function createWebSocketDoor(deps: AppDeps, options: WebSocketDoorOptions) {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_PAYLOAD,
    ...(options.batchWrites ? { WebSocket: BatchingWebSocket } : {}),
  }) as WebSocketServer;
  // A frame may carry that many calls and, beyond them, one per subscription a connection may
  // have: tRPC's client resends every open subscription in one frame when it reconnects.
  const wsBatchSize = options.maxBatchSize + deps.limits.config.maxSubscriptionsPerConnection;
  const handler = serveTrpcOverWebSocket({
    wss,
    router: appRouter,
    createContext: createWsContextFactory(deps),
    encoder: wsEncoder,
    onError: options.onError,
    directDelivery: deps.directDelivery,
    maxBatchSize: wsBatchSize,
    authTimeoutMs: options.authTimeoutMs,
    clientAddress: options.clientAddress,
    flow: {
      maxBufferedBytes: deps.backpressure.maxBufferedBytes,
      drainTimeoutMs: deps.backpressure.drainTimeoutMs,
      maxInflight: options.maxInflightPerConnection,
      // Reading stops once half of these wait: what waits is at most what was read already, about a frame.
      maxWaiting: wsBatchSize,
    },
    busyFor: () => deps.admission.full(),
    onSlowConsumer: (ctx) => {
      deps.metrics.slowConsumersDropped.inc({ action: 'closed' });
      options.logger.warn('closing a slow consumer', { connection: ctx?.connection.id, userId: ctx?.session?.user.id });
    },
  });
  // One timer for all connections (keep-alive.ts).
  const stopKeepAlive = keepConnectionsAlive(wss, options.keepAlive);
  let draining = false;

  return {
    /** The HTTP server's 'upgrade': refused with a status line, or handed to the protocol. */
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      if (draining) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== TRPC_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      // Browsers send Origin on every upgrade and CORS does not apply to WebSockets: a page of another site is refused here.
      if (!options.origins.allowsUpgrade(req)) {
        options.logger.warn('websocket refused: origin not allowed', { origin: req.headers.origin, remote: req.socket.remoteAddress });
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
        return;
      }
      // Sockets that have not authenticated cost memory and a timer each: a cap per client address.
      if (handler.unauthenticatedFrom(options.clientAddress(req) ?? 'unknown') >= options.maxUnauthenticatedPerAddress) {
        deps.metrics.rateLimited.inc({ limit: 'unauthenticated sockets per address' });
        socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, upgradeRequest(req)));
    },
    connectionCount: () => wss.clients.size,
    /** The largest outbound buffer of any connection, in bytes (what slow consumers would grow). */
    maxBufferedBytes(): number {
      let max = 0;
      for (const client of wss.clients) max = Math.max(max, client.bufferedAmount);
      return max;
    },
    /** No new connections from now on; every open one is told to reconnect (elsewhere, if it can). */
    drain(): void {
      draining = true;
      handler.broadcastReconnectNotification();
    },
    /** Closes every connection (1001), cutting those that do not answer within a second, then the server. */
    async close(): Promise<void> {
      draining = true;
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      // A peer that never answers the closing handshake would hold the shutdown for ws's 30 s timeout.
      const deadline = Date.now() + 1_000;
      while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      for (const client of wss.clients) client.terminate();
      stopKeepAlive();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
