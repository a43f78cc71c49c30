import { createTRPCClient, createWSClient, httpBatchLink, TRPCClientError, wsLink, type OperationLink, type TRPCClient, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from '../server/routers/_app.ts';
import { backoffDelay } from './link/backoff.ts';
import { createConnectionTracker, type ConnectionStatus } from './link/connection.ts';
import { retryingRequest, withIdempotencyKey } from './link/request.ts';
import { resumableSubscription, type TransportContext } from './link/subscription.ts';
import { DEFAULT_MAX_BATCH_SIZE } from '../shared/limits.ts';

export { backoffDelay, type BackoffOptions } from './link/backoff.ts';
export { isSocketDown, type ConnectionSnapshot, type ConnectionState, type ConnectionStatus } from './link/connection.ts';
export { logFilterOf } from './link/log-filter.ts';

export interface TandemClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:3000`; `/trpc` is appended. */
  url: string;
  /** Read on every connection and HTTP request, so a refreshed token is used from then on. */
  getToken: () => string | null | undefined;
  /** Node 20 has no global WebSocket: pass `ws`. */
  WebSocket?: typeof globalThis.WebSocket;
  /** How often a subscription polls while the WebSocket is unavailable. @default 2000 */
  pollIntervalMs?: number;
  /** Delay before reconnect attempt `n`. @default about 1, 2, 4 … 30 s with jitter */
  retryDelayMs?: (attempt: number) => number;
  /** Client ping interval and how long to wait for the pong before treating the socket as dead. */
  keepAlive?: { intervalMs: number; pongTimeoutMs: number };
  /** How long a query or mutation is retried on network failures (mutations safely, by idempotencyKey). @default 60000 */
  retryWindowMs?: number;
}

export interface TandemLink {
  /** The one terminating link: give it to `createTRPCClient` or to `@trpc/react-query`'s `createClient`. */
  link: TRPCLink<AppRouter>;
  connection: ConnectionStatus;
  /** Closes the WebSocket and ends every subscription. */
  close(): Promise<void>;
}

export interface TandemClient {
  trpc: TRPCClient<AppRouter>;
  connection: ConnectionStatus;
  close(): Promise<void>;
}

/** The socket's reconnect delay: `backoffDelay`'s defaults, about 1, 2, 4, 8 … s with jitter, capped at 30. */
export const backoffWithJitter = (attempt: number): number => backoffDelay(attempt);

function trpcUrls(url: string) {
  const base = url.replace(/\/+$/, '');
  return { http: `${base}/trpc`, ws: `${base.replace(/^http/, 'ws')}/trpc` };
}

function authHeaders(token: string | null | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A client over HTTP only: for signing in (the WebSocket requires a token) and for scripts. */
export function createHttpClient(url: string, getToken: () => string | null | undefined = () => null): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: trpcUrls(url).http, maxItems: DEFAULT_MAX_BATCH_SIZE, headers: () => authHeaders(getToken()) })] });
}

/**
 * Everything over one WebSocket while it is available, HTTP and polling while it is
 * not, with every subscription resuming from its last event id across each switch and
 * reconnect. Used by the web app (through React Query) and by `createTandemClient`.
 */
export function createTandemLink(options: TandemClientOptions): TandemLink {
  const urls = trpcUrls(options.url);
  const connection = createConnectionTracker();

  interface Socket {
    client: ReturnType<typeof createWSClient>;
    watch: { unsubscribe(): void };
    /** Increases with each `reconnect()`, so subscriptions know to move. */
    generation: number;
  }
  const openSocket = (): Socket => {
    const client = createWSClient({
      url: urls.ws,
      WebSocket: options.WebSocket,
      connectionParams: () => ({ token: options.getToken() ?? '' }),
      retryDelayMs: options.retryDelayMs ?? backoffWithJitter,
      keepAlive: { enabled: true, intervalMs: options.keepAlive?.intervalMs ?? 5_000, pongTimeoutMs: options.keepAlive?.pongTimeoutMs ?? 3_000 },
    });
    const watch = client.connectionState.subscribe({
      next(value) {
        if (socket?.client !== client) return;
        if (value.state === 'pending') connection.socketOpened();
        else if (value.state === 'connecting' && value.error) connection.socketFailed();
      },
    });
    return { client, watch, generation: (socket?.generation ?? 0) + 1 };
  };
  let socket: Socket | undefined;
  socket = openSocket();

  const link: TRPCLink<AppRouter> = (runtime) => {
    const wsLinks = new WeakMap<object, OperationLink<AppRouter>>();
    const overHttpRaw = httpBatchLink<AppRouter>({ url: urls.http, maxItems: DEFAULT_MAX_BATCH_SIZE, headers: () => authHeaders(options.getToken()) })(runtime);
    // Every HTTP outcome tells whether the server is reachable while the socket is down.
    const overHttp: OperationLink<AppRouter> = (opts) =>
      observable((observer) =>
        overHttpRaw(opts).subscribe({
          next(value) {
            connection.httpSucceeded();
            observer.next(value);
          },
          error(error) {
            if (error instanceof TRPCClientError && error.data) connection.httpSucceeded();
            else connection.httpFailed();
            observer.error(error);
          },
          complete: () => observer.complete(),
        }),
      );
    const context: TransportContext = {
      connection,
      overHttp,
      pollIntervalMs: options.pollIntervalMs ?? 2_000,
      overWs() {
        const current = socket!;
        let ws = wsLinks.get(current.client);
        if (!ws) {
          ws = wsLink<AppRouter>({ client: current.client })(runtime);
          wsLinks.set(current.client, ws);
        }
        return { link: ws, generation: current.generation };
      },
    };
    const retry = { retryWindowMs: options.retryWindowMs ?? 60_000 };
    return ({ op }) => {
      if (op.type === 'subscription') return resumableSubscription(context, op);
      return retryingRequest(context, withIdempotencyKey(op), retry);
    };
  };

  const status: ConnectionStatus = {
    get state() {
      return connection.state;
    },
    get attempt() {
      return connection.attempt;
    },
    subscribe: connection.subscribe,
    reconnect() {
      if (connection.state === 'closed' || !socket) return;
      const old = socket;
      old.watch.unsubscribe();
      socket = openSocket();
      // Subscriptions leave the old socket (to polling, or waiting for the new one) before it closes.
      connection.socketReplaced();
      void old.client.close();
    },
  };

  return {
    link,
    connection: status,
    async close() {
      connection.close();
      socket?.watch.unsubscribe();
      await socket?.client.close();
    },
  };
}

/** A typed client over `createTandemLink`: what tests and scripts use. */
export function createTandemClient(options: TandemClientOptions): TandemClient {
  const { link, connection, close } = createTandemLink(options);
  return { trpc: createTRPCClient<AppRouter>({ links: [link] }), connection, close };
}
