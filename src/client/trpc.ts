import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  TRPCClientError,
  wsLink,
  type Operation,
  type OperationLink,
  type OperationResultEnvelope,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import type { AppRouter } from '../server/routers/_app.ts';
import type { CrmEvent } from '../shared/events.ts';
import { MODULE_NAMES, type ModuleName } from '../shared/modules.ts';

/**
 * - `connecting`: the WebSocket has not opened yet (first attempt);
 * - `open`: everything goes over the one WebSocket;
 * - `fallback-polling`: the WebSocket is refused or lost; queries and mutations go over
 *   HTTP batch requests, subscriptions poll `events.since`; the socket keeps retrying
 *   (with backoff) and everything moves back when it opens;
 * - `closed`: `close()` was called.
 */
export type ConnectionState = 'connecting' | 'open' | 'fallback-polling' | 'closed';

export interface ConnectionStatus {
  readonly state: ConnectionState;
  /** Calls `listener` with every change; returns the unsubscribe function. */
  subscribe(listener: (state: ConnectionState) => void): () => void;
}

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
}

export interface TandemClient {
  trpc: TRPCClient<AppRouter>;
  connection: ConnectionStatus;
  close(): Promise<void>;
}

/** Exponential backoff with jitter: about 1, 2, 4, 8 … seconds, capped at 30. */
export function backoffWithJitter(attempt: number): number {
  const base = Math.min(30_000, 1_000 * 2 ** attempt);
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

function trpcUrls(url: string) {
  const base = url.replace(/\/+$/, '');
  return { http: `${base}/trpc`, ws: `${base.replace(/^http/, 'ws')}/trpc` };
}

/** A client over HTTP only: for signing in (the WebSocket requires a token) and for scripts. */
export function createHttpClient(url: string, getToken: () => string | null | undefined = () => null): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: trpcUrls(url).http, headers: () => authHeaders(getToken()) })] });
}

function authHeaders(token: string | null | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * The typed client used by the web app and the tests: everything over one WebSocket
 * while it is available, HTTP and polling while it is not, with every subscription
 * resuming from its last event id across each switch and reconnect.
 */
export function createTandemClient(options: TandemClientOptions): TandemClient {
  const urls = trpcUrls(options.url);
  const status = createConnectionStatus();
  const wsClient = createWSClient({
    url: urls.ws,
    WebSocket: options.WebSocket,
    connectionParams: () => ({ token: options.getToken() ?? '' }),
    retryDelayMs: options.retryDelayMs ?? backoffWithJitter,
    keepAlive: { enabled: true, intervalMs: options.keepAlive?.intervalMs ?? 5_000, pongTimeoutMs: options.keepAlive?.pongTimeoutMs ?? 3_000 },
  });
  const stateSubscription = wsClient.connectionState.subscribe({
    next(value) {
      if (value.state === 'pending') status.set('open');
      else if (value.state === 'connecting') status.set(value.error ? 'fallback-polling' : status.state === 'open' ? 'fallback-polling' : 'connecting');
    },
  });

  const links: TRPCLink<AppRouter> = (runtime) => {
    const overWs = wsLink<AppRouter>({ client: wsClient })(runtime);
    const overHttp = httpBatchLink<AppRouter>({ url: urls.http, headers: () => authHeaders(options.getToken()) })(runtime);
    const context: SubscriptionContext = {
      status,
      overWs,
      overHttp,
      pollIntervalMs: options.pollIntervalMs ?? 2_000,
    };
    return ({ op, next }) => {
      if (op.type === 'subscription') return resumableSubscription(context, op);
      return status.state === 'open' ? overWs({ op, next }) : overHttp({ op, next });
    };
  };

  return {
    trpc: createTRPCClient<AppRouter>({ links: [links] }),
    connection: status,
    async close() {
      stateSubscription.unsubscribe();
      status.set('closed');
      await wsClient.close();
    },
  };
}

function createConnectionStatus() {
  let state: ConnectionState = 'connecting';
  const listeners = new Set<(state: ConnectionState) => void>();
  return {
    get state() {
      return state;
    },
    set(next: ConnectionState) {
      if (next === state || state === 'closed') return;
      state = next;
      for (const listener of [...listeners]) listener(state);
    },
    subscribe(listener: (state: ConnectionState) => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

interface SubscriptionContext {
  status: ReturnType<typeof createConnectionStatus>;
  overWs: OperationLink<AppRouter>;
  overHttp: OperationLink<AppRouter>;
  pollIntervalMs: number;
}

interface LogFilter {
  modules?: ModuleName[];
  recordId?: string;
}

/** Which part of the event log a subscription reads, so polling can serve it; null when it is not a log subscription. */
export function logFilterOf(path: string, input: unknown): LogFilter | null {
  const value = (input ?? {}) as { modules?: ModuleName[]; id?: string };
  if (path === 'events.onAny') return value.modules ? { modules: value.modules } : {};
  const [module, procedure] = path.split('.');
  if (procedure === 'onChange' && MODULE_NAMES.includes(module as ModuleName)) {
    return { modules: [module as ModuleName], ...(value.id ? { recordId: value.id } : {}) };
  }
  return null;
}

/** Ids for the socket-level subscriptions this link starts, apart from the client's own operation ids. */
let innerOperationId = 1_000_000_000;

/**
 * One logical subscription that survives transport switches. It starts from a known
 * position in the log (the given `lastEventId`, or the head of the log), keeps the id
 * of the last event it delivered, and each time the transport changes it restarts
 * there: over the WebSocket (the server replays, then streams) or by polling
 * `events.since` over HTTP. Events arrive once each, in log order.
 */
function resumableSubscription(context: SubscriptionContext, op: Operation) {
  return observable<OperationResultEnvelope<unknown, TRPCClientError<AppRouter>>, TRPCClientError<AppRouter>>((observer) => {
    const filter = logFilterOf(op.path, op.input);
    const input = (op.input ?? {}) as Record<string, unknown>;
    let lastEventId = typeof input.lastEventId === 'string' ? input.lastEventId : undefined;
    let transport: 'ws' | 'poll' | undefined;
    let inner: Unsubscribable | undefined;
    let pollTimer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let started = false;
    let positioned = false;

    const deliver = (id: string, data: unknown) => {
      lastEventId = id;
      observer.next({ result: { type: 'data', id, data: { id, data } } });
    };
    const markStarted = () => {
      if (started) return;
      started = true;
      observer.next({ result: { type: 'started' } });
    };
    const fail = (error: TRPCClientError<AppRouter>) => {
      stop();
      observer.error(error);
    };
    const stopTransport = () => {
      inner?.unsubscribe();
      inner = undefined;
      clearTimeout(pollTimer);
      pollTimer = undefined;
    };
    const stop = () => {
      stopped = true;
      stopTransport();
      unsubscribeStatus();
    };

    const startWs = () => {
      const wsOp = { ...op, id: innerOperationId++, input: { ...input, ...(lastEventId ? { lastEventId } : {}) } };
      inner = context
        .overWs({ op: wsOp, next: () => observable(() => undefined) })
        .subscribe({
          next(envelope) {
            const result = envelope.result as { type?: string; id?: string; data?: { id: string; data: unknown } };
            if (result.type === 'started') markStarted();
            else if (result.type === 'data' && result.id !== undefined && result.data) deliver(result.id, result.data.data);
            else if (result.type === undefined || result.type === 'data') observer.next(envelope);
          },
          error: fail,
          complete() {
            if (!stopped && transport === 'ws' && context.status.state === 'open') {
              stop();
              observer.complete();
            }
          },
        });
    };

    const poll = async () => {
      if (stopped || transport !== 'poll' || !filter) return;
      try {
        let more = true;
        while (more && !stopped && transport === 'poll') {
          const page = await query<{ events: CrmEvent[]; lastEventId: string }>(context, op, 'events.since', {
            lastEventId,
            ...filter,
            limit: 500,
          });
          markStarted();
          if (stopped || transport !== 'poll') return;
          for (const event of page.events) deliver(String(event.seq), event);
          more = page.events.length === 500;
        }
      } catch (cause) {
        const error = TRPCClientError.from(cause as Error) as TRPCClientError<AppRouter>;
        const code = error.data?.code;
        if (code === 'BAD_REQUEST' || code === 'UNAUTHORIZED' || code === 'FORBIDDEN') return fail(error);
        // Network trouble: try again at the next interval.
      }
      if (!stopped && transport === 'poll') pollTimer = setTimeout(() => void poll(), context.pollIntervalMs);
    };

    const choose = (state: ConnectionState) => {
      if (stopped || !positioned || state === 'closed') return;
      // Subscriptions that the log cannot serve wait for the socket.
      const wanted = state === 'fallback-polling' && filter ? 'poll' : 'ws';
      if (wanted === transport) return;
      stopTransport();
      transport = wanted;
      if (wanted === 'ws') startWs();
      else void poll();
    };
    const unsubscribeStatus = context.status.subscribe(choose);
    const begin = () => {
      positioned = true;
      choose(context.status.state);
    };
    if (lastEventId !== undefined || !filter) begin();
    else {
      // "Only new events" is pinned to the head of the log now, so that a later switch
      // of transport resumes from a position instead of losing what happened in between.
      void retryUntilDone(
        () => query<{ lastEventId: string }>(context, op, 'events.head', undefined),
        () => stopped,
        context.pollIntervalMs,
      ).then((head) => {
        if (!head || stopped) return;
        lastEventId = head.lastEventId;
        begin();
      }, fail);
    }

    return () => stop();
  });
}

/** A query over whichever transport is up. */
function query<T>(context: SubscriptionContext, parent: Operation, path: string, input: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const op: Operation = { id: innerOperationId++, type: 'query', path, input, context: parent.context, signal: null };
    const link = context.status.state === 'open' ? context.overWs : context.overHttp;
    link({ op, next: () => observable(() => undefined) }).subscribe({
      next: (envelope) => resolve((envelope.result as { data: T }).data),
      error: reject,
    });
  });
}

/** Retries `task` on network errors until it succeeds or `isCancelled()`; rejects on errors the server answered. */
async function retryUntilDone<T>(task: () => Promise<T>, isCancelled: () => boolean, delayMs: number): Promise<T | undefined> {
  for (;;) {
    if (isCancelled()) return undefined;
    try {
      return await task();
    } catch (cause) {
      const error = TRPCClientError.from(cause as Error);
      if (error.data) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
