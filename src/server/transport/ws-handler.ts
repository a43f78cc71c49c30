import type { IncomingMessage } from 'node:http';
import { callTRPCProcedure, getTRPCErrorFromUnknown, getTRPCErrorShape, isTrackedEnvelope, transformTRPCResponse, TRPCError, type AnyRouter } from '@trpc/server';
import { parseConnectionParamsFromUnknown } from '@trpc/server/http';
import { parseTRPCMessage } from '@trpc/server/rpc';
import type { WebSocket, WebSocketServer } from 'ws';
import { serviceUnavailable, tooManyRequests } from '../errors.ts';
import { offerDelivery, type DeliveryPort } from '../events/delivery.ts';
import { BUSY_LIMIT, BusyRefusals } from './busy-refusal.ts';
import type { SubscriptionTarget, WsEncoder } from './ws-encoder.ts';
import { ConnectionFlow, defaultFlowOptions, type FlowOptions } from './ws-flow.ts';

/**
 * tRPC's WebSocket protocol, served here rather than by tRPC's ws adapter: the same
 * messages both ways (connectionParams, batches, `started`/`data`/`stopped`, errors,
 * `subscription.stop`, `PING`/`PONG`, `reconnect`), so any tRPC client keeps working.
 *
 * Why: a subscription stays open for as long as its client is connected, and the
 * adapter holds, for each one, a race of its next item against an abort promise
 * (proxies, subscriber sets, reactions: 18 pending promises and their closures, about
 * 3 KB per idle connection), and a dozen closures per connection. Here a subscription
 * is one small object waiting on its stream's next item, a connection one object, and
 * the listeners are shared. Our streams end themselves when their signal aborts, so
 * nothing has to race them; a stop still answers `stopped` at once, as the adapter does.
 */

export interface WsContextOptions {
  req: IncomingMessage;
  res: WebSocket;
  info: { connectionParams: Record<string, string | undefined> | null };
}

export interface WsErrorOptions<TContext> {
  error: TRPCError;
  type: 'query' | 'mutation' | 'subscription' | 'unknown';
  path: string | undefined;
  input: unknown;
  ctx: TContext | undefined;
  req: IncomingMessage;
}

export interface WsHandlerOptions<TRouter extends AnyRouter, TContext> {
  wss: WebSocketServer;
  router: TRouter;
  createContext: (options: WsContextOptions) => Promise<TContext>;
  encoder: WsEncoder;
  onError?: (options: WsErrorOptions<TContext>) => void;
  /**
   * Let subscriptions that offer it (events/delivery.ts) write their items as frames
   * themselves, through the encoder's `writeTracked`. Only where the frames are the same
   * either way: never with a data transformer, which only the loop here applies. @default true
   */
  directDelivery?: boolean;
  /** Each connection's outbound bound and requests in flight (ws-flow.ts). */
  flow?: FlowOptions;
  /** Requests one frame may carry; a larger batch is refused whole (TOO_MANY_REQUESTS). @default 100 */
  maxBatchSize?: number;
  /** A connection that has no context this long after it opened (its parameters never came, or were not valid in time) is closed with 4001. @default 5000 */
  authTimeoutMs?: number;
  /** Who a connection's client is, for the cap on unauthenticated connections per address. @default the TCP peer */
  clientAddress?: (req: IncomingMessage) => string | undefined;
  /** Told when a connection is closed for not reading what it was sent. */
  onSlowConsumer?: (ctx: TContext | undefined) => void;
  /**
   * When the node takes no more changes now: how long the caller should wait. Asked per
   * mutation before anything runs for it, so that refusing in an overload costs little of
   * the CPU the overload is short of (SERVICE_UNAVAILABLE with `retryAfterMs`).
   */
  busyFor?: () => number | undefined;
}

/** The close code of a connection that did not authenticate (invalid parameters, or none in time). */
export const UNAUTHENTICATED_CLOSE_CODE = 4001;

type Id = string | number;
type ProcedureType = 'query' | 'mutation' | 'subscription';
interface Request {
  id: Id | null;
  jsonrpc?: '2.0' | undefined;
  method: ProcedureType | 'subscription.stop';
  params?: { path: string; input: unknown; lastEventId?: string | undefined };
}

export function serveTrpcOverWebSocket<TRouter extends AnyRouter, TContext>(options: WsHandlerOptions<TRouter, TContext>) {
  const direct = options.directDelivery !== false && options.encoder.writeTracked !== undefined && transformsNothing(options.router);
  const connections = new WeakMap<WebSocket, Connection<TContext>>();
  const busy = new BusyRefusals(options.router);
  function onMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) {
    connections.get(this)?.receive(data, isBinary);
  }
  function onClose(this: WebSocket) {
    connections.get(this)?.closed();
    connections.delete(this);
  }
  function onSocketError(this: WebSocket, cause: Error) {
    connections.get(this)?.failed(getTRPCErrorFromUnknown(cause), 'unknown', undefined, undefined);
  }
  /** Connections not yet authenticated, by client address (see `unauthenticatedFrom`). */
  const unauthenticated = new Map<string, number>();
  const countUnauthenticated = (address: string, change: 1 | -1) => {
    const count = (unauthenticated.get(address) ?? 0) + change;
    if (count > 0) unauthenticated.set(address, count);
    else unauthenticated.delete(address);
  };
  options.wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    const connection = new Connection(options, direct, socket, req, countUnauthenticated, busy);
    connections.set(socket, connection);
    socket.on('message', onMessage);
    socket.on('close', onClose);
    socket.on('error', onSocketError);
    if (new URL(req.url ?? '/', 'http://localhost').searchParams.get('connectionParams') !== '1') connection.start(() => null);
  });
  return {
    /** Connections from `address` that have not authenticated yet: what an upgrade's admission checks. */
    unauthenticatedFrom(address: string): number {
      return unauthenticated.get(address) ?? 0;
    },
    /** Tells every client to reconnect (tRPC's clients do so at once, elsewhere if they can). */
    broadcastReconnectNotification() {
      const data = JSON.stringify({ id: null, method: 'reconnect' });
      for (const client of options.wss.clients) if (client.readyState === client.OPEN) client.send(data);
    },
  };
}

/** True when the router's data transformer (tRPC's default, or none given) leaves values as they are. */
function transformsNothing(router: AnyRouter): boolean {
  const probe = {};
  return router._def._config.transformer.output.serialize(probe) === probe;
}

/** What tRPC's adapter checks a procedure's result with (its own helper is not public). */
function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

type Started = { ok: true } | { ok: false; error: TRPCError };

/** A subscription whose procedure has not answered yet: a `subscription.stop` may already end it. */
interface PendingSubscription {
  stopped: boolean;
  controller: AbortController;
}

/** One WebSocket connection: its context, built once, and its open subscriptions. */
class Connection<TContext> {
  ctx: TContext | undefined = undefined;
  readonly flow: ConnectionFlow;
  #started: Promise<Started> | undefined = undefined;
  /** Open subscriptions by request id; made at the first one. */
  #subscriptions: Map<Id, Subscription<TContext>> | undefined = undefined;
  /** Subscriptions asked for whose procedure has not answered yet, by request id. */
  #pending: Map<Id, PendingSubscription> | undefined = undefined;
  /** Until the connection has a context: it is counted as unauthenticated, and closed if that takes too long. */
  #authTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #address: string;
  /** What subscriptions that may not write their own frames are offered: the flow only. */
  #flowPort: DeliveryPort | undefined = undefined;

  constructor(
    readonly options: WsHandlerOptions<AnyRouter, TContext>,
    readonly direct: boolean,
    readonly socket: WebSocket,
    readonly req: IncomingMessage,
    readonly countUnauthenticated: (address: string, change: 1 | -1) => void,
    readonly busy: BusyRefusals,
  ) {
    this.flow = new ConnectionFlow(socket, options.flow ?? defaultFlowOptions, this);
    this.#address = (options.clientAddress ? options.clientAddress(req) : req.socket?.remoteAddress) ?? 'unknown';
    countUnauthenticated(this.#address, 1);
    this.#authTimer = setTimeout(() => this.#refuse(), options.authTimeoutMs ?? 5_000);
    this.#authTimer.unref?.();
  }

  /** @internal The flow closed this connection for not reading what it was sent. */
  slowConsumer(): void {
    this.options.onSlowConsumer?.(this.ctx);
  }

  /** Builds the context; a connection that cannot have one is told why and closed. */
  start(connectionParams: () => Record<string, string | undefined> | null): void {
    this.#started = (async (): Promise<Started> => {
      try {
        const ctx = await this.options.createContext({ req: this.req, res: this.socket, info: { connectionParams: connectionParams() } });
        // Its time ran out meanwhile: the connection is closed already.
        if (!this.#authTimer) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Authentication took too long' });
        this.ctx = ctx;
        this.#authenticated();
        return { ok: true };
      } catch (cause) {
        const error = getTRPCErrorFromUnknown(cause);
        this.failed(error, 'unknown', undefined, undefined);
        if (this.#authTimer) {
          this.respond({ id: null, error: this.errorShape(error, 'unknown', undefined, undefined) });
          setImmediate(() => this.#refuse());
        }
        return { ok: false, error };
      }
    })();
  }

  #authenticated(): void {
    if (!this.#authTimer) return;
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
    this.countUnauthenticated(this.#address, -1);
  }

  /** No valid parameters (in time): closed with 4001, whether or not the client answers PINGs. */
  #refuse(): void {
    this.#authenticated();
    if (this.ctx === undefined) this.socket.close(UNAUTHENTICATED_CLOSE_CODE, 'Unauthorized');
  }

  receive(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (!Buffer.isBuffer(raw)) {
      const error = new TRPCError({ code: 'UNPROCESSABLE_CONTENT', message: 'Unexpected WebSocket message format' });
      this.respond({ id: null, error: this.errorShape(error, 'unknown', undefined, undefined) });
      return;
    }
    if (isBinary) {
      this.respond({ id: null, error: this.errorShape(new TRPCError({ code: 'PARSE_ERROR', message: 'Expected a text frame' }), 'unknown', undefined, undefined) });
      return;
    }
    const text = raw.toString('utf8');
    if (text === 'PONG') return;
    if (text === 'PING') {
      this.socket.send('PONG');
      return;
    }
    // The first message of a connection opened with `?connectionParams=1` is its parameters.
    if (!this.#started) {
      this.start(() => {
        let message: unknown;
        try {
          message = this.options.encoder.decode(text);
        } catch (cause) {
          throw new TRPCError({ code: 'PARSE_ERROR', message: 'Malformed TRPCConnectionParamsMessage', cause });
        }
        if (typeof message !== 'object' || message === null) throw new TRPCError({ code: 'PARSE_ERROR', message: 'Malformed TRPCConnectionParamsMessage' });
        return parseConnectionParamsFromUnknown((message as { data?: unknown }).data);
      });
      return;
    }
    let requests: Request[];
    try {
      const json = this.options.encoder.decode(text);
      const transformer = this.options.router._def._config.transformer;
      requests = (Array.isArray(json) ? json : [json]).map((item) => parseTRPCMessage(item, transformer) as Request);
    } catch (cause) {
      this.respond({ id: null, error: this.errorShape(new TRPCError({ code: 'PARSE_ERROR', cause }), 'unknown', undefined, undefined) });
      return;
    }
    const maxBatchSize = this.options.maxBatchSize ?? 100;
    if (requests.length > maxBatchSize) {
      // Refused whole, as tRPC's HTTP handler refuses an oversized batch: no part of it runs.
      const error = tooManyRequests(`requests per batch (at most ${maxBatchSize})`, 0);
      this.failed(error, 'unknown', undefined, undefined);
      for (const request of requests) if (request.id !== null && request.method !== 'subscription.stop') this.refuse(request, error);
      return;
    }
    for (const [batchIndex, request] of requests.entries()) this.handle(request, batchIndex);
  }

  refuse(request: Request, error: TRPCError): void {
    const type = request.method === 'subscription.stop' ? 'unknown' : request.method;
    const path = request.params?.path;
    this.respond({ id: request.id, jsonrpc: request.jsonrpc, error: this.errorShape(error, type, path, request.params?.input) });
  }

  handle(request: Request, batchIndex: number): void {
    const { id, jsonrpc } = request;
    if (id === null) {
      const error = new TRPCError({ code: 'PARSE_ERROR', message: '`id` is required' });
      this.failed(error, 'unknown', undefined, undefined);
      this.respond({ id, jsonrpc, error: this.errorShape(error, 'unknown', undefined, undefined) });
      return;
    }
    if (request.method === 'subscription.stop') {
      const pending = this.#pending?.get(id);
      // Sent right after its start, before the procedure answered: it ends the subscription as soon as it exists.
      if (pending && !pending.stopped) {
        pending.stopped = true;
        pending.controller.abort();
      } else {
        this.#subscriptions?.get(id)?.stop();
      }
      return;
    }
    const type = request.method;
    const busyFor = type === 'mutation' ? this.options.busyFor?.() : undefined;
    if (busyFor !== undefined) {
      const shape = this.busy.shapeOf(request.params?.path, busyFor);
      if (shape) {
        this.respond({ id, jsonrpc, error: shape });
        return;
      }
      const error = serviceUnavailable(BUSY_LIMIT, busyFor);
      this.failed(error, type, request.params?.path, request.params?.input);
      this.refuse(request, error);
      return;
    }
    let controller: AbortController | undefined;
    if (type === 'subscription') {
      // Refused before the procedure runs, so that a reused id takes no slot.
      if (this.#subscriptions?.has(id) || this.#pending?.has(id)) {
        const error = new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` });
        this.failed(error, type, request.params?.path, request.params?.input);
        this.refuse(request, error);
        return;
      }
      controller = new AbortController();
      (this.#pending ??= new Map()).set(id, { stopped: false, controller });
    }
    const path = request.params!.path;
    let input = request.params!.input;
    const lastEventId = request.params!.lastEventId;
    // As tRPC's adapter: a resume's `lastEventId` joins the input.
    if (lastEventId !== undefined) {
      if (typeof input === 'object' && input !== null && !Array.isArray(input)) input = { ...input, lastEventId };
      else input ??= { lastEventId };
    }
    const admitted = this.flow.admit(() => {
      this.call(id, jsonrpc, type, path, input, batchIndex, controller)
        .catch((cause: unknown) => {
          const error = getTRPCErrorFromUnknown(cause);
          this.failed(error, type, path, input);
          this.respond({ id, jsonrpc, error: this.errorShape(error, type, path, input) });
        })
        .finally(() => {
          if (controller) this.#settled(id);
          this.flow.done();
        });
    });
    if (!admitted) {
      if (controller) this.#settled(id);
      const error = tooManyRequests('requests waiting per connection', 100);
      this.failed(error, type, path, input);
      this.refuse(request, error);
    }
  }

  async call(id: Id, jsonrpc: Request['jsonrpc'], type: ProcedureType, path: string, input: unknown, batchIndex: number, controller: AbortController | undefined): Promise<void> {
    const started = await this.#started!;
    if (!started.ok) throw started.error;
    if (controller?.signal.aborted) {
      // Stopped while it waited for its turn: its procedure need not run at all.
      if (this.socket.readyState === this.socket.OPEN) this.respond({ id, jsonrpc, result: { type: 'stopped' } });
      return;
    }
    const result: unknown = await callTRPCProcedure({
      router: this.options.router,
      path,
      getRawInput: async () => input,
      ctx: this.ctx,
      type,
      signal: controller?.signal,
      batchIndex,
    });
    if (type !== 'subscription') {
      if (isAsyncIterable(result)) {
        throw new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: `Cannot return an async iterable from a ${type} procedure with WebSockets` });
      }
      this.respond({ id, jsonrpc, result: { type: 'data', data: result } });
      return;
    }
    if (!isAsyncIterable(result)) {
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: `Subscription ${path} did not return an AsyncGenerator` });
    }
    const iterator = result[Symbol.asyncIterator]();
    if (this.socket.readyState !== this.socket.OPEN || this.#pending?.get(id)?.stopped) {
      // Stopped before it started (or the connection went): the stream is ended, which gives its slot back.
      iterator.return?.().catch(() => {});
      if (this.socket.readyState === this.socket.OPEN) this.respond({ id, jsonrpc, result: { type: 'stopped' } });
      return;
    }
    const subscriptions = (this.#subscriptions ??= new Map());
    const subscription = new Subscription(this, id, jsonrpc, path, input, iterator, controller!);
    subscriptions.set(id, subscription);
    // Before its first step: a stream that offers to know its connection reads the port when it starts.
    subscription.pacesItself = offerDelivery(result, this.direct ? subscription : (this.#flowPort ??= { flow: this.flow }));
    // The stream's first step runs (it listens before it reads) before `started` goes out, as with tRPC's adapter.
    subscription.pull();
    this.respond({ id, jsonrpc, result: { type: 'started' } });
  }

  /** A subscription's procedure answered (or never ran). No map is kept for none: most connections start their few subscriptions once. */
  #settled(id: Id): void {
    this.#pending?.delete(id);
    if (this.#pending?.size === 0) this.#pending = undefined;
  }

  /** @internal A subscription ended. */
  forget(subscription: Subscription<TContext>): void {
    if (this.#subscriptions?.get(subscription.id) === subscription) this.#subscriptions.delete(subscription.id);
  }

  closed(): void {
    this.#authenticated();
    this.flow.closed();
    if (this.#pending) for (const pending of this.#pending.values()) pending.controller.abort();
    if (this.#subscriptions) for (const subscription of this.#subscriptions.values()) subscription.stop();
    this.#subscriptions = undefined;
  }

  respond(response: unknown): void {
    this.socket.send(this.options.encoder.encode(transformTRPCResponse(this.options.router._def._config, response as never)));
    this.flow.wrote();
  }

  errorShape(error: TRPCError, type: ProcedureType | 'unknown', path: string | undefined, input: unknown) {
    return getTRPCErrorShape({ config: this.options.router._def._config, error, type, path, input, ctx: this.ctx });
  }

  failed(error: TRPCError, type: ProcedureType | 'unknown', path: string | undefined, input: unknown): void {
    this.options.onError?.({ error, type, path, input, ctx: this.ctx, req: this.req });
  }
}

/**
 * One open subscription: it waits on its stream's next item, and answers each as tRPC's
 * adapter does. It is also the port its stream may write its own frames through.
 */
class Subscription<TContext> implements DeliveryPort, SubscriptionTarget {
  #done = false;
  prefixBytes: Buffer | undefined = undefined;
  /** Its stream took the connection's flow: it parks itself while the connection is backed up. */
  pacesItself = false;

  constructor(
    readonly connection: Connection<TContext>,
    readonly id: Id,
    readonly jsonrpc: Request['jsonrpc'],
    readonly path: string,
    readonly input: unknown,
    readonly iterator: AsyncIterator<unknown>,
    readonly controller: AbortController,
  ) {}

  get flow(): ConnectionFlow {
    return this.connection.flow;
  }

  /** The stream's own write of a tracked item: the frame the loop below would send for it. */
  send(trackedId: string, data: unknown): void {
    this.connection.options.encoder.writeTracked!(this.connection.socket, this, trackedId, data);
    this.connection.flow.wrote();
  }

  pull(): void {
    this.iterator.next().then(
      (step) => this.#item(step),
      (cause: unknown) => this.#fail(cause),
    );
  }

  /** The client sent `subscription.stop`, or the connection closed: the stream is told, and `stopped` answered now. */
  stop(): void {
    if (this.#done) return;
    this.controller.abort();
    // Most streams have ended already (they end on abort); `return` is for any that has not.
    this.iterator.return?.().catch(() => {});
    this.#end();
  }

  #item(step: IteratorResult<unknown>): void {
    if (this.#done) return;
    if (step.done) {
      this.#end();
      return;
    }
    const value = step.value;
    let result: { type: 'data'; data: unknown; id?: string };
    if (isTrackedEnvelope(value)) {
      const [trackedId, data] = value;
      // Key for key as tRPC's adapter builds it (ws-encoder.ts relies on the order).
      result = { type: 'data', data: { id: trackedId, data }, id: trackedId };
    } else {
      result = { type: 'data', data: value };
    }
    try {
      this.connection.respond({ id: this.id, jsonrpc: this.jsonrpc, result });
    } catch (cause) {
      // An item that cannot be encoded (a BigInt, a cycle) ends its subscription with an error, not the process.
      this.iterator.return?.().catch(() => {});
      this.#fail(cause);
      return;
    }
    // Any other stream is not asked for more while the connection is full, until it drains (or is closed for not draining).
    if (!this.pacesItself && this.connection.flow.isBackedUp()) {
      this.connection.flow.whenDrained().then((drained) => drained && !this.#done && this.pull());
      return;
    }
    this.pull();
  }

  #fail(cause: unknown): void {
    if (this.#done) return;
    const error = getTRPCErrorFromUnknown(cause);
    this.connection.failed(error, 'subscription', this.path, this.input);
    this.connection.respond({ id: this.id, jsonrpc: this.jsonrpc, error: this.connection.errorShape(error, 'subscription', this.path, this.input) });
    this.#end();
  }

  #end(): void {
    this.#done = true;
    this.connection.forget(this);
    if (this.connection.socket.readyState === this.connection.socket.OPEN) {
      this.connection.respond({ id: this.id, jsonrpc: this.jsonrpc, result: { type: 'stopped' } });
    }
  }
}
