import { initTRPC, tracked, TRPCError } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { z } from 'zod';
import { markShared } from '../src/server/bus/shared-events.ts';
import { offeringDelivery, type DeliveryPort } from '../src/server/events/delivery.ts';
import { wsEncoder } from '../src/server/transport/ws-encoder.ts';
import { serveTrpcOverWebSocket } from '../src/server/transport/ws-handler.ts';
import { createWsContextFactory } from '../src/server/context.ts';
import { appRouter } from '../src/server/routers/_app.ts';
import { startTestServer } from './helpers/server.ts';

/**
 * Our WebSocket handler (ws-handler.ts) against tRPC's own `applyWSSHandler`, frame for
 * frame, over one scripted session: when tRPC is upgraded and its protocol moves, this
 * says what changed. What ours adds (limits on batches, requests in flight, time to
 * authenticate) is not reached by the script.
 */
const t = initTRPC.context<{ user: string }>().create({ isDev: false });
const router = t.router({
  whoami: t.procedure.query(({ ctx }) => ctx.user),
  echo: t.procedure.input(z.object({ text: z.string() })).mutation(({ input }) => input.text),
  fail: t.procedure.query(() => {
    throw new TRPCError({ code: 'CONFLICT', message: 'Taken' });
  }),
  count: t.procedure.input(z.object({ count: z.number(), lastEventId: z.string().nullish() })).subscription(async function* ({ input }) {
    for (let i = Number(input.lastEventId ?? 0) + 1; i <= input.count; i++) yield tracked(String(i), { i });
  }),
  plain: t.procedure.subscription(async function* () {
    yield 'untracked';
  }),
  listening: t.procedure.subscription(async function* ({ signal }) {
    yield 'ready';
    await new Promise((resolve) => signal!.addEventListener('abort', resolve, { once: true }));
  }),
});

const createContext = async ({ info }: { info: { connectionParams: Record<string, string | undefined> | null } }) => {
  if (info.connectionParams?.token !== 'good') throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Bad token' });
  return { user: 'ann' };
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Implementation = 'trpc' | 'tandem';

async function serve(implementation: Implementation) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const handler = implementation === 'trpc' ? applyWSSHandler({ wss, router, createContext }) : serveTrpcOverWebSocket({ wss, router, createContext, encoder: wsEncoder });
  cleanups.push(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, handler };
}

/** A raw client keeping every frame as its text. */
async function connect(url: string, token: string) {
  const socket = new WebSocket(`${url}?connectionParams=1`);
  const frames: string[] = [];
  socket.on('message', (data) => frames.push(String(data)));
  const closed = new Promise<number>((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
  cleanups.push(async () => socket.terminate());
  return { socket, frames, closed, send: (message: unknown) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)) };
}

/** The frames of one request id, in the order they came; id-less frames under 'null'. */
function byRequest(frames: string[]): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const text of frames) {
    const [prefix, json] = text.startsWith('refused:') ? ['refused:', text.slice('refused:'.length)] : ['', text];
    const id = json === 'PONG' ? 'PONG' : prefix + String((JSON.parse(json) as { id?: unknown }).id ?? null);
    (groups[id] ??= []).push(text);
  }
  return groups;
}

const isEnd = (frame: string, id: number) => {
  if (frame === 'PONG') return false;
  const message = JSON.parse(frame) as { id?: unknown; result?: { type?: string }; error?: unknown };
  return message.id === id && (message.error !== undefined || message.result?.type === 'stopped' || message.result?.type === 'data');
};

/** The script: every message kind of the protocol, each step awaited before the next. */
async function session(implementation: Implementation): Promise<{ frames: string[]; refusedCode: number; oversizedCode: number }> {
  const { url, handler } = await serve(implementation);
  const client = await connect(url, 'good');
  const { send, frames } = client;
  const until = (check: () => boolean) => vi.waitFor(() => expect(check()).toBe(true), { timeout: 5_000 });
  const answered = (id: number) => until(() => frames.some((frame) => isEnd(frame, id)));

  send({ id: 1, method: 'query', params: { path: 'whoami' } });
  await answered(1);
  send({ id: 2, jsonrpc: '2.0', method: 'mutation', params: { path: 'echo', input: { text: 'hi' } } });
  await answered(2);
  send([
    { id: 3, method: 'query', params: { path: 'whoami' } },
    { id: 4, method: 'mutation', params: { path: 'echo', input: { text: 'two' } } },
  ]);
  await answered(3);
  await answered(4);
  send({ id: 5, method: 'subscription', params: { path: 'count', input: { count: 3 } } });
  await until(() => frames.some((frame) => frame.includes('"id":5') && frame.includes('stopped')));
  // A resume: `lastEventId` beside the input, as tRPC's client sends it after a reconnect.
  send({ id: 6, method: 'subscription', params: { path: 'count', input: { count: 5 }, lastEventId: '3' } });
  await until(() => frames.some((frame) => frame.includes('"id":6') && frame.includes('stopped')));
  send({ id: 7, method: 'subscription', params: { path: 'plain' } });
  await until(() => frames.some((frame) => frame.includes('"id":7') && frame.includes('stopped')));
  send({ id: 8, method: 'mutation', params: { path: 'echo', input: { text: 5 } } });
  await answered(8);
  send({ id: 9, method: 'query', params: { path: 'nope' } });
  await answered(9);
  send({ id: 10, method: 'query', params: { path: 'fail' } });
  await answered(10);
  send({ id: 11, method: 'subscription', params: { path: 'listening' } });
  await answered(11);
  send({ id: 11, method: 'subscription.stop' });
  await until(() => frames.some((frame) => frame.includes('"id":11') && frame.includes('stopped')));
  send('PING');
  await until(() => frames.includes('PONG'));
  send('not json');
  await until(() => frames.some((frame) => frame.includes('PARSE_ERROR')));
  handler.broadcastReconnectNotification();
  await until(() => frames.some((frame) => frame.includes('"method":"reconnect"')));

  // A connection with a bad token: its error, then closed; one that sends too much: closed with 1009.
  const refused = await connect(url, 'forged');
  const refusedCode = await refused.closed;
  frames.push(...refused.frames.map((frame) => `refused:${frame}`));
  const oversized = await connect(url, 'good');
  oversized.send('x'.repeat(64 * 1024 + 1));
  const oversizedCode = await oversized.closed;
  return { frames, refusedCode, oversizedCode };
}

describe("our WebSocket handler against tRPC's applyWSSHandler", () => {
  it('answers one scripted session with the same frames, byte for byte, request by request', async () => {
    const theirs = await session('trpc');
    const ours = await session('tandem');
    expect(byRequest(ours.frames)).toEqual(byRequest(theirs.frames));
    // Their order within each request is the same; across requests, each step was awaited, so the whole sequence matches too.
    expect(ours.frames).toEqual(theirs.frames);
    expect(ours.oversizedCode).toBe(theirs.oversizedCode);
    // tRPC's adapter closes a refused connection with the default code; ours says why (4001: not authenticated).
    expect(theirs.refusedCode).toBeGreaterThan(0);
    expect(ours.refusedCode).toBe(4001);
  });
});

/**
 * With a data transformer, only the handler's loop applies it: a stream that offers to
 * write its own frames must not be given `send`, or its frames would skip the transformer.
 */
describe('a router with a data transformer', () => {
  const wrapping = {
    serialize: (value: unknown) => ({ wrapped: value }),
    deserialize: (value: unknown) => (value as { wrapped?: unknown } | undefined)?.wrapped,
  };
  const tt = initTRPC.context<{ user: string }>().create({ isDev: false, transformer: wrapping });
  const transforming = tt.router({
    events: tt.procedure.subscription(() => {
      const state: { port?: DeliveryPort } = {};
      async function* items() {
        for (let seq = 1; seq <= 3; seq++) {
          // Published events are shared (bus/shared-events.ts): what the encoder's fast path looks for.
          const event = { seq, type: 'LEAD_CREATED' };
          markShared(event as never);
          if (state.port?.send) state.port.send(String(seq), event);
          else yield tracked(String(seq), event);
        }
      }
      return offeringDelivery(items(), (port) => (state.port = port));
    }),
  });

  it('gives the frames of tRPC’s adapter, transformed, from a stream that offers to write its own', async () => {
    const framesOf = async (implementation: Implementation) => {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
      if (implementation === 'trpc') applyWSSHandler({ wss, router: transforming, createContext });
      else serveTrpcOverWebSocket({ wss, router: transforming, createContext, encoder: wsEncoder, directDelivery: true });
      cleanups.push(async () => {
        for (const client of wss.clients) client.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      });
      const client = await connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, 'good');
      client.send({ id: 1, method: 'subscription', params: { path: 'events' } });
      await vi.waitFor(() => expect(client.frames.some((frame) => frame.includes('stopped'))).toBe(true), { timeout: 5_000 });
      return client.frames;
    };
    const theirs = await framesOf('trpc');
    expect(theirs.filter((frame) => frame.includes('"wrapped"'))).toHaveLength(3);
    expect(await framesOf('tandem')).toEqual(theirs);
  });
});

/**
 * The app's own streams: live events written straight to the socket (events/stream.ts)
 * and frames batched per turn (ws-batching.ts) must give what tRPC's adapter gives for
 * the same subscription, each switch on and off.
 */
describe("the app's subscriptions against tRPC's applyWSSHandler", () => {
  for (const directDelivery of [true, false]) {
    for (const batchWrites of [true, false]) {
      it(`events.onAny: the same frames with direct delivery ${directDelivery ? 'on' : 'off'} and write batching ${batchWrites ? 'on' : 'off'}`, async () => {
        await using app = await startTestServer({ config: { WS_DIRECT_DELIVERY: directDelivery }, server: { batchWrites } });
        const theirs = new WebSocketServer({ host: '127.0.0.1', port: 0 });
        await new Promise<void>((resolve) => theirs.once('listening', () => resolve()));
        applyWSSHandler({ wss: theirs, router: appRouter, createContext: createWsContextFactory(app.deps) });
        cleanups.push(async () => {
          for (const client of theirs.clients) client.terminate();
          await new Promise<void>((resolve) => theirs.close(() => resolve()));
        });
        const alice = await app.caller('alice@acme.test');
        const from = (await alice.events.head()).lastEventId;
        await alice.jobs.create({ title: 'Before both subscribed' });
        await alice.clients.create({ firstName: 'Replayed', lastName: 'Client' });

        const token = await app.tokenFor('bob@acme.test');
        const clients = [await connect(app.server.wsUrl, token), await connect(`ws://127.0.0.1:${(theirs.address() as { port: number }).port}`, token)];
        const subscribe = { id: 'all', method: 'subscription', params: { path: 'events.onAny', input: {}, lastEventId: from } };
        for (const client of clients) client.send(subscribe);
        const events = (client: (typeof clients)[number]) => client.frames.filter((frame) => frame.includes('"type":"data"')).length;
        await vi.waitFor(() => expect(clients.map(events)).toEqual([2, 2]), { timeout: 5_000 });
        // Live: through the bus, each connection's own way.
        const job = await alice.jobs.create({ title: 'While both listen' });
        await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { status: 'scheduled' } });
        await alice.jobs.delete({ id: job.id });
        await vi.waitFor(() => expect(clients.map(events)).toEqual([5, 5]), { timeout: 5_000 });
        const [ours, trpcs] = clients.map((client) => client.frames);
        expect(ours).toEqual(trpcs);
        expect(ours![0]).toBe('{"id":"all","result":{"type":"started"}}');
        // Ours took the path under test: straight to the socket, or through the subscription's generator (as theirs).
        expect(app.deps.metrics.deliveredBy.direct > 0).toBe(directDelivery);
      });
    }
  }
});
