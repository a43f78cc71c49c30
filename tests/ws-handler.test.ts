import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { initTRPC, tracked, TRPCError } from '@trpc/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { z } from 'zod';
import { wsEncoder } from '../src/server/transport/ws-encoder.ts';
import { offeringDelivery, type DeliveryPort } from '../src/server/events/delivery.ts';
import { serveTrpcOverWebSocket, type WsErrorOptions, type WsHandlerOptions } from '../src/server/transport/ws-handler.ts';

/** A router of its own, so each answer of the protocol can be provoked. */
interface TestContext {
  user: string;
}
const t = initTRPC.context<TestContext>().create();
let streamsOpen = 0;
const flood = { wss: undefined as WebSocketServer | undefined, bound: 64 * 1024, askedWhileFull: 0, steps: 0 };
/** Calls of `gated` and `gatedStream` that have begun, and how to let them all finish. */
let gatedCalls = 0;
let gatedStreamsOpen = 0;
const newGate = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
};
let gate = newGate();
function openGate() {
  gate.resolve();
  gate = newGate();
}
/** Waits at the gate before the procedure runs, as a middleware that looks something up does. */
const gatedProcedure = t.procedure.use(async ({ next }) => {
  gatedCalls += 1;
  await gate.promise;
  return next();
});
const router = t.router({
  whoami: t.procedure.query(({ ctx }) => ctx.user),
  gated: gatedProcedure.query(() => 'through'),
  /** Like `listening`, behind the gate: a stop can come before the procedure has answered. */
  gatedStream: gatedProcedure.subscription(async function* ({ signal }) {
    gatedStreamsOpen += 1;
    try {
      yield 'ready';
      await new Promise((resolve) => signal!.addEventListener('abort', resolve, { once: true }));
    } finally {
      gatedStreamsOpen -= 1;
    }
  }),
  /** The request its context names (see `subscriptionContext`), as a query and as a subscription. */
  /** Offers a delivery port; writes its second item itself when given `send`, and says which way its third went. */
  selfWriting: t.procedure.subscription(() => {
    const state: { port?: DeliveryPort } = {};
    async function* items() {
      yield tracked('1', { i: 1 });
      if (state.port?.send) state.port.send('2', { i: 2 });
      else yield tracked('2', { i: 2 });
      yield tracked('3', { given: state.port ? (state.port.send ? 'send' : 'flow') : 'nothing' });
    }
    return offeringDelivery(items(), (port) => (state.port = port));
  }),
  echo: t.procedure.input(z.object({ text: z.string() })).mutation(({ input }) => input.text),
  /** Tracked items 1..count, then an error when asked to fail, else the end. */
  count: t.procedure.input(z.object({ count: z.number(), fail: z.boolean().optional(), lastEventId: z.string().nullish() })).subscription(async function* ({ input }) {
    for (let i = Number(input.lastEventId ?? 0) + 1; i <= input.count; i++) yield tracked(String(i), { i });
    if (input.fail) throw new TRPCError({ code: 'CONFLICT', message: 'The stream broke' });
  }),
  /** 16 KB items (4,000 at most: 64 MB); counts the steps it was asked for while its connection's outbound buffer was over `flood.bound`. */
  flood: t.procedure.subscription(async function* () {
    for (let i = 0; i < 4_000; i++) {
      const socket = [...(flood.wss?.clients ?? [])][0];
      if (socket && socket.bufferedAmount > flood.bound) flood.askedWhileFull += 1;
      flood.steps += 1;
      yield 'x'.repeat(16_384);
    }
  }),
  /** An item JSON cannot encode. */
  bigint: t.procedure.subscription(async function* () {
    yield { n: 1n };
  }),
  /** Never yields, and does not listen to its signal: only `return()` ends it. */
  deaf: t.procedure.subscription(async function* () {
    streamsOpen += 1;
    try {
      await new Promise(() => {});
      yield 'never';
    } finally {
      streamsOpen -= 1;
    }
  }),
  /** Ends itself when its signal aborts, as the app's streams do. */
  listening: t.procedure.subscription(async function* ({ signal }) {
    streamsOpen += 1;
    try {
      yield 'ready';
      await new Promise((resolve) => signal!.addEventListener('abort', resolve, { once: true }));
    } finally {
      streamsOpen -= 1;
    }
  }),
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  openGate();
  gatedCalls = 0;
});

type StartOptions = Pick<WsHandlerOptions<typeof router, TestContext>, 'directDelivery' | 'flow' | 'maxBatchSize' | 'authTimeoutMs'>;
async function start(extra: StartOptions = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const errors: WsErrorOptions<unknown>[] = [];
  const handler = serveTrpcOverWebSocket({
    wss,
    router,
    encoder: wsEncoder,
    onError: (options) => errors.push(options),
    ...extra,
    createContext: async ({ info }) => {
      if (info.connectionParams?.token !== 'good') throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Bad token' });
      return { user: 'ann' };
    },
  });
  cleanups.push(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  return { wss, url, errors, handler };
}

/** A raw client: sends JSON, collects every frame parsed (PONG as the string). */
async function rawClient(url: string, token = 'good') {
  const socket = new WebSocket(`${url}?connectionParams=1`);
  const frames: unknown[] = [];
  socket.on('message', (data) => {
    const text = String(data);
    frames.push(text === 'PONG' ? text : JSON.parse(text));
  });
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
  cleanups.push(async () => socket.terminate());
  const send = (message: unknown) => socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  return { socket, frames, send };
}

describe("tRPC's WebSocket protocol (ws-handler.ts)", () => {
  it('serves queries, mutations and subscriptions to the tRPC client, with resume, errors and the end of a stream', async () => {
    const { url } = await start();
    const wsClient = createWSClient({ url, WebSocket: WebSocket as never, connectionParams: { token: 'good' } });
    cleanups.push(async () => wsClient.close());
    const client = createTRPCClient<typeof router>({ links: [wsLink({ client: wsClient })] });
    expect(await client.whoami.query()).toBe('ann');
    expect(await client.echo.mutate({ text: 'hi' })).toBe('hi');
    await expect(client.echo.mutate({ text: 5 as never })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });

    const items: unknown[] = [];
    let started = false;
    const completed = new Promise<void>((resolve) => {
      client.count.subscribe({ count: 5, lastEventId: '2' }, { onStarted: () => (started = true), onData: (item) => items.push(item), onComplete: () => resolve() });
    });
    await completed;
    expect(started).toBe(true);
    expect(items).toEqual([3, 4, 5].map((i) => ({ id: String(i), data: { i } })));

    const failure = await new Promise<unknown>((resolve) => client.count.subscribe({ count: 1, fail: true }, { onError: resolve }));
    expect(failure).toMatchObject({ message: 'The stream broke', data: { code: 'CONFLICT' } });
  });

  it('answers PING, batches, an id-less request and a duplicate subscription id; a stop answers `stopped` and ends the stream', async () => {
    const { url, errors } = await start();
    const { frames, send } = await rawClient(url);
    send('PING');
    send([
      { id: 1, method: 'query', params: { path: 'whoami' } },
      { id: 2, method: 'mutation', params: { path: 'echo', input: { text: 'two' } } },
    ]);
    send({ id: null, method: 'query', params: { path: 'whoami' } });
    send({ id: 's', jsonrpc: '2.0', method: 'subscription', params: { path: 'listening' } });
    await vi.waitFor(() => expect(frames).toContainEqual({ id: 's', jsonrpc: '2.0', result: { type: 'data', data: 'ready' } }), { timeout: 5_000 });
    send({ id: 's', jsonrpc: '2.0', method: 'subscription', params: { path: 'listening' } });
    await vi.waitFor(
      () => expect(frames).toContainEqual(expect.objectContaining({ id: 's', error: expect.objectContaining({ data: expect.objectContaining({ code: 'BAD_REQUEST' }) }) })),
      {
        timeout: 5_000,
      },
    );
    expect(streamsOpen).toBe(1);
    send({ id: 's', jsonrpc: '2.0', method: 'subscription.stop' });
    await vi.waitFor(() => expect(frames).toContainEqual({ id: 's', jsonrpc: '2.0', result: { type: 'stopped' } }), { timeout: 5_000 });
    await vi.waitFor(() => expect(streamsOpen).toBe(0), { timeout: 5_000 });

    // A resume: `lastEventId` beside the input, as tRPC's client sends it after a reconnect.
    send({ id: 'r', method: 'subscription', params: { path: 'count', input: { count: 5 }, lastEventId: '3' } });
    await vi.waitFor(() => expect(frames).toContainEqual({ id: 'r', result: { type: 'stopped' } }), { timeout: 5_000 });
    const resumed = frames.filter((frame) => (frame as { id?: unknown }).id === 'r') as { result: { type: string; id?: string } }[];
    expect(resumed.map((frame) => frame.result.id ?? frame.result.type)).toEqual(['started', '4', '5', 'stopped']);

    expect(frames).toContain('PONG');
    expect(frames).toContainEqual({ id: 1, result: { type: 'data', data: 'ann' } });
    expect(frames).toContainEqual({ id: 2, result: { type: 'data', data: 'two' } });
    expect(frames).toContainEqual(expect.objectContaining({ id: null, error: expect.objectContaining({ data: expect.objectContaining({ code: 'PARSE_ERROR' }) }) }));
    // `started` before the data, once; one `stopped`.
    const ofS = frames.filter((frame) => (frame as { id?: unknown }).id === 's' && (frame as { result?: unknown }).result) as { result: { type: string } }[];
    expect(ofS.map((frame) => frame.result.type)).toEqual(['started', 'data', 'stopped']);
    expect(errors.map((error) => error.error.code)).toEqual(expect.arrayContaining(['PARSE_ERROR', 'BAD_REQUEST']));
  });

  for (const directDelivery of [true, false]) {
    it(`offers a subscription that asks for it its connection's port${directDelivery ? ', through which it writes the frames the loop would' : ' without `send` when direct delivery is off'}`, async () => {
      const { url } = await start({ directDelivery });
      const { frames, send } = await rawClient(url);
      send({ id: 7, jsonrpc: '2.0', method: 'subscription', params: { path: 'selfWriting' } });
      const data = (id: string, value: unknown) => ({ id: 7, jsonrpc: '2.0', result: { type: 'data', data: { id, data: value }, id } });
      await vi.waitFor(() => expect(frames).toContainEqual({ id: 7, jsonrpc: '2.0', result: { type: 'stopped' } }), { timeout: 5_000 });
      const ofSeven = frames.filter((frame) => (frame as { id?: unknown }).id === 7);
      expect(ofSeven).toEqual([
        { id: 7, jsonrpc: '2.0', result: { type: 'started' } },
        data('1', { i: 1 }),
        data('2', { i: 2 }),
        data('3', { given: directDelivery ? 'send' : 'flow' }),
        { id: 7, jsonrpc: '2.0', result: { type: 'stopped' } },
      ]);
    });
  }

  it('asks a stream that does not pace itself for nothing more while its connection is backed up, and goes on once it drains', async () => {
    const { url, wss } = await start({ flow: { maxBufferedBytes: flood.bound, drainTimeoutMs: 30_000, maxInflight: 8, maxWaiting: 100 } });
    flood.wss = wss;
    cleanups.push(async () => void (flood.wss = undefined));
    const { socket, frames, send } = await rawClient(url);
    const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    send({ id: 1, method: 'subscription', params: { path: 'flood' } });
    const server = await vi.waitFor(
      () => {
        const client = [...wss.clients][0];
        expect(client?.bufferedAmount).toBeGreaterThan(flood.bound);
        return client!;
      },
      { timeout: 20_000 },
    );
    const stepsWhenFull = flood.steps;
    expect(server.bufferedAmount).toBeLessThan(flood.bound + 2 * 16_500);
    tcp.resume();
    // It drains, and the stream is asked for more again.
    await vi.waitFor(() => expect(flood.steps).toBeGreaterThan(stepsWhenFull + 50), { timeout: 20_000 });
    await vi.waitFor(() => expect(frames.length).toBeGreaterThan(50), { timeout: 20_000 });
    send({ id: 1, method: 'subscription.stop' });
    expect(flood.askedWhileFull).toBe(0);
  });

  it('ends a stream that ignores its signal when stopped or when its connection closes', async () => {
    const { url } = await start();
    const first = await rawClient(url);
    first.send({ id: 1, method: 'subscription', params: { path: 'deaf' } });
    await vi.waitFor(() => expect(streamsOpen).toBe(1), { timeout: 5_000 });
    first.send({ id: 1, method: 'subscription.stop' });
    await vi.waitFor(() => expect(first.frames).toContainEqual({ id: 1, result: { type: 'stopped' } }), { timeout: 5_000 });
    // Nothing can end a generator's pending await from outside: the client is answered at once all the same.
    const second = await rawClient(url);
    second.send({ id: 1, method: 'subscription', params: { path: 'listening' } });
    await vi.waitFor(() => expect(second.frames).toContainEqual({ id: 1, result: { type: 'data', data: 'ready' } }), { timeout: 5_000 });
    const before = streamsOpen;
    second.socket.close();
    await vi.waitFor(() => expect(streamsOpen).toBe(before - 1), { timeout: 5_000 });
  });

  it('ends a subscription whose item cannot be encoded with an error, and goes on serving the connection', async () => {
    const { url } = await start();
    const { frames, send } = await rawClient(url);
    send({ id: 'b', method: 'subscription', params: { path: 'bigint' } });
    await vi.waitFor(() => expect(frames).toContainEqual({ id: 'b', result: { type: 'stopped' } }), { timeout: 5_000 });
    expect(frames).toContainEqual(expect.objectContaining({ id: 'b', error: expect.objectContaining({ data: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }) }) }));
    send({ id: 2, method: 'query', params: { path: 'whoami' } });
    await vi.waitFor(() => expect(frames).toContainEqual({ id: 2, result: { type: 'data', data: 'ann' } }), { timeout: 5_000 });
  });

  it('refuses a connection whose context cannot be made: the error, then closed', async () => {
    const { url, errors } = await start();
    const { socket, frames } = await rawClient(url, 'forged');
    const code = await new Promise<number>((resolve) => socket.once('close', resolve));
    expect(code).toBeGreaterThan(0);
    expect(frames).toEqual([expect.objectContaining({ id: null, error: expect.objectContaining({ data: expect.objectContaining({ code: 'UNAUTHORIZED' }) }) })]);
    expect(errors.map((error) => error.error.code)).toEqual(['UNAUTHORIZED']);
  });

  it('tells every open client to reconnect', async () => {
    const { url, handler } = await start();
    const { frames } = await rawClient(url);
    handler.broadcastReconnectNotification();
    await vi.waitFor(() => expect(frames).toContainEqual({ id: null, method: 'reconnect' }), { timeout: 5_000 });
  });
});

describe('what one connection may ask of the handler (ws-handler.ts, ws-flow.ts)', () => {
  const errorCodeOf = (frame: unknown) => (frame as { error?: { data?: { code?: string } } }).error?.data?.code;

  it('ends a subscription whose stop came before its procedure answered, every time, and gives nothing more', async () => {
    const { url } = await start();
    const { frames, send } = await rawClient(url);
    for (let i = 0; i < 20; i++) send({ id: `s${i}`, method: 'subscription', params: { path: 'gatedStream' } });
    // 8 are running (the connection's requests in flight), held in their middleware; 4 wait their turn.
    await vi.waitFor(() => expect(gatedCalls).toBe(8), { timeout: 5_000 });
    for (let i = 0; i < 20; i++) send({ id: `s${i}`, method: 'subscription.stop' });
    // Frames are read in order: once the PING after them is answered, the stops have been.
    send('PING');
    await vi.waitFor(() => expect(frames).toContain('PONG'), { timeout: 5_000 });
    const stopped = () => frames.filter((frame) => (frame as { result?: { type?: string } }).result?.type === 'stopped');
    openGate();
    await vi.waitFor(() => expect(stopped()).toHaveLength(20), { timeout: 5_000 });
    // The other 12 were stopped before their turn: their procedure never ran.
    expect(gatedCalls).toBe(8);
    // The 8 stopped while their procedure ran gave nothing; nothing comes after any `stopped`.
    const ids = (frames.filter((frame) => frame !== 'PONG') as { id: string; result?: { type?: string } }[]).map((frame) => `${frame.id}:${frame.result?.type}`);
    for (let i = 0; i < 20; i++) expect(ids.indexOf(`s${i}:stopped`)).toBe(ids.lastIndexOf(`s${i}:stopped`));
    for (let i = 0; i < 20; i++) expect(ids.slice(ids.indexOf(`s${i}:stopped`)).filter((id) => id.startsWith(`s${i}:`))).toEqual([`s${i}:stopped`]);
    expect(ids.filter((id) => id.endsWith(':data'))).toEqual([]);
    await vi.waitFor(() => expect(gatedStreamsOpen).toBe(0), { timeout: 5_000 });
  });

  it('refuses a reused subscription id before its procedure runs, so it takes no slot', async () => {
    const { url, errors } = await start();
    const { frames, send } = await rawClient(url);
    send([
      { id: 'dup', method: 'subscription', params: { path: 'gatedStream' } },
      { id: 'dup', method: 'subscription', params: { path: 'gatedStream' } },
    ]);
    await vi.waitFor(() => expect(frames.map(errorCodeOf)).toContain('BAD_REQUEST'), { timeout: 5_000 });
    openGate();
    await vi.waitFor(() => expect(frames).toContainEqual({ id: 'dup', result: { type: 'data', data: 'ready' } }), { timeout: 5_000 });
    // The procedure (and whatever slot its middleware would take) ran once.
    expect(gatedCalls).toBe(1);
    expect(errors.map((error) => error.error.code)).toEqual(['BAD_REQUEST']);
    send({ id: 'dup', method: 'subscription.stop' });
    await vi.waitFor(() => expect(gatedStreamsOpen).toBe(0), { timeout: 5_000 });
  });

  it('refuses a batch larger than the cap whole, with TOO_MANY_REQUESTS for each call, and serves the next', async () => {
    const { url } = await start({ maxBatchSize: 10 });
    const { frames, send } = await rawClient(url);
    send(Array.from({ length: 11 }, (_, i) => ({ id: i, method: 'query', params: { path: 'whoami' } })));
    await vi.waitFor(() => expect(frames).toHaveLength(11), { timeout: 5_000 });
    expect(frames.map(errorCodeOf)).toEqual(Array(11).fill('TOO_MANY_REQUESTS'));
    send(Array.from({ length: 10 }, (_, i) => ({ id: 100 + i, method: 'query', params: { path: 'whoami' } })));
    await vi.waitFor(() => expect(frames).toHaveLength(21), { timeout: 5_000 });
    expect(frames.slice(11)).toEqual(Array.from({ length: 10 }, (_, i) => ({ id: 100 + i, result: { type: 'data', data: 'ann' } })));
  });

  it('runs at most `maxInflight` requests of a connection at once, queues the next, refuses past the queue', async () => {
    const { url } = await start({ flow: { maxBufferedBytes: 1024 * 1024, drainTimeoutMs: 30_000, maxInflight: 2, maxWaiting: 3 } });
    const { frames, send } = await rawClient(url);
    send(Array.from({ length: 6 }, (_, i) => ({ id: i, method: 'query', params: { path: 'gated' } })));
    // Two run, three wait, the sixth is refused at once.
    await vi.waitFor(() => expect(frames.map(errorCodeOf)).toEqual(['TOO_MANY_REQUESTS']), { timeout: 5_000 });
    expect(gatedCalls).toBe(2);
    openGate();
    await vi.waitFor(() => expect(gatedCalls).toBe(4), { timeout: 5_000 });
    openGate();
    await vi.waitFor(() => expect(gatedCalls).toBe(5), { timeout: 5_000 });
    openGate();
    await vi.waitFor(() => expect(frames).toHaveLength(6), { timeout: 5_000 });
    expect(frames.slice(1)).toEqual([0, 1, 2, 3, 4].map((id) => ({ id, result: { type: 'data', data: 'through' } })));
  });

  it('closes a connection whose parameters never come with 4001, though it answers PINGs', async () => {
    const { url, wss } = await start({ authTimeoutMs: 300 });
    const socket = new WebSocket(`${url}?connectionParams=1`);
    cleanups.push(async () => socket.terminate());
    await new Promise((resolve) => socket.once('open', resolve));
    // Alive all the while: it talks (PING, PONG) but never authenticates.
    const chatter = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('PING'), 50);
    cleanups.push(async () => clearInterval(chatter));
    const code = await new Promise<number>((resolve) => socket.once('close', resolve));
    expect(code).toBe(4001);
    await vi.waitFor(() => expect(wss.clients.size).toBe(0), { timeout: 5_000 });
  });
});
