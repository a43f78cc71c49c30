import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { markShared } from '../src/server/bus/shared-events.ts';
import { encodeTrackedFrame, wsEncoder } from '../src/server/transport/ws-encoder.ts';
import { BatchingWebSocket } from '../src/server/transport/ws-batching.ts';

/** A server of BatchingWebSockets on a random loopback port, and plain `ws` clients of it. */
interface Pair {
  server: BatchingWebSocket;
  client: WebSocket;
  received: string[];
}

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const wss of servers.splice(0)) {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});

async function startServer(): Promise<WebSocketServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, WebSocket: BatchingWebSocket });
  servers.push(wss);
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  return wss;
}

async function connect(wss: WebSocketServer): Promise<Pair> {
  const serverSide = new Promise<BatchingWebSocket>((resolve) => wss.once('connection', (socket) => resolve(socket as BatchingWebSocket)));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  const received: string[] = [];
  client.on('message', (data, isBinary) => received.push(isBinary ? 'binary!' : String(data)));
  const server = await serverSide;
  await new Promise<void>((resolve) => (client.readyState === WebSocket.OPEN ? resolve() : client.once('open', () => resolve())));
  return { server, client, received };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('BatchingWebSocket', () => {
  it('finds the parts of ws it reads where it expects them (ws is pinned; an upgrade that moves them fails here)', async () => {
    const { server } = await connect(await startServer());
    const internals = server as unknown as { _socket?: { write?: unknown; writableCorked?: unknown }; _sender?: { _state?: unknown; _queue?: unknown } };
    expect(typeof internals._socket?.write).toBe('function');
    expect(typeof internals._socket?.writableCorked).toBe('number');
    // An idle sender: state 0 (DEFAULT) and an empty queue, as sendShared checks before writing past it.
    expect(internals._sender?._state).toBe(0);
    expect(internals._sender?._queue).toEqual([]);
    expect(typeof Object.getOwnPropertyDescriptor(WebSocket.prototype, 'bufferedAmount')?.get).toBe('function');
  });

  it("writes a shared event as one text frame of the subscriber's prefix and the shared bytes, at every length", async () => {
    const { server: socket, received } = await connect(await startServer());
    // Payload lengths around each header size (7-bit, 16-bit, 64-bit lengths), and multi-byte text.
    const expected: string[] = [];
    for (const length of [1, 125, 126, 127, 65_535, 65_536, 70_000]) {
      const prefix = `{"id":${length},`;
      const shared = 'x'.repeat(length - prefix.length > 0 ? length - prefix.length : 1);
      socket.sendShared(Buffer.from(prefix), Buffer.from(shared));
      expected.push(prefix + shared);
      // Alone in its turn too: the frame held for the end of the turn.
      await nextTurn();
      socket.sendShared(Buffer.from(prefix), Buffer.from(shared));
      expected.push(prefix + shared);
    }
    socket.sendShared(Buffer.from('{"id":"é",'), Buffer.from('"data":"naïve ☃"}'));
    expected.push('{"id":"é","data":"naïve ☃"}');
    // Through the subscription's writer: the bytes encodeTrackedFrame makes, for a shared event.
    const event = { seq: 9, type: 'LEAD_CREATED', data: { name: 'Zoë' } };
    markShared(event as never);
    wsEncoder.writeTracked!(socket, { id: 12, jsonrpc: undefined }, '9', event);
    expected.push(encodeTrackedFrame({ id: 12, jsonrpc: undefined }, '9', event));
    socket.send('after');
    expected.push('after');
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(expected.length);
    expect(received).toEqual(expected);
  });

  it('keeps the order of a held frame and what is sent after it in the same turn, a close included', async () => {
    const wss = await startServer();
    const { server, client, received } = await connect(wss);
    server.sendShared(Buffer.from('{"id":1,'), Buffer.from('"n":1}'));
    server.send('{"id":1,"n":2}');
    server.sendShared(Buffer.from('{"id":1,'), Buffer.from('"n":3}'));
    await nextTurn();
    server.sendShared(Buffer.from('{"id":1,'), Buffer.from('"n":4}'));
    server.close(4000, 'bye');
    const closed = await new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    expect(closed).toBe(4000);
    expect(received).toEqual(['{"id":1,"n":1}', '{"id":1,"n":2}', '{"id":1,"n":3}', '{"id":1,"n":4}']);
  });

  it("writes a socket's shared frames of one turn in one write, counts them in bufferedAmount meanwhile, and keeps the order past the bound", async () => {
    const { server, received } = await connect(await startServer());
    const tcp = (server as unknown as { _socket: { write(chunk: Buffer): boolean } })._socket;
    const writes: number[] = [];
    const write = tcp.write;
    tcp.write = function (this: unknown, chunk: Buffer, ...rest: unknown[]) {
      writes.push(chunk.length);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof tcp.write;
    const prefix = '{"id":7,';
    const frameBytes = (tail: string) => 4 + prefix.length + tail.length;
    const body = (n: number, size: number) => `"n":${n},"body":"${'y'.repeat(size)}"}`;
    // Three events of one turn, 45 KB together: held, seen by backpressure, then one write.
    const first = [1, 2, 3].map((n) => body(n, 15_000));
    for (const tail of first) server.sendShared(Buffer.from(prefix), Buffer.from(tail));
    expect(server.bufferedAmount).toBe(first.reduce((sum, tail) => sum + frameBytes(tail), 0));
    await nextTurn();
    expect(writes).toEqual([first.reduce((sum, tail) => sum + frameBytes(tail), 0)]);
    // Five of 20 KB in one turn: past what a socket holds (64 KB), the rest go through the stream, after the held ones.
    const second = [4, 5, 6, 7, 8].map((n) => body(n, 20_000));
    for (const tail of second) server.sendShared(Buffer.from(prefix), Buffer.from(tail));
    // Held frames, then a plain send, then more shared frames in the same turn.
    server.sendShared(Buffer.from(prefix), Buffer.from('"n":9}'));
    server.send('{"id":8,"n":10}');
    server.sendShared(Buffer.from(prefix), Buffer.from('"n":11}'));
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(11);
    expect(received).toEqual([...[...first, ...second, '"n":9}'].map((tail) => `${prefix}${tail}`), '{"id":8,"n":10}', `${prefix}"n":11}`]);
  });

  it('never overwrites a frame the kernel has not taken yet while later frames are built for other sockets', async () => {
    const wss = await startServer();
    const slow = await connect(wss);
    const fast = await connect(wss);
    // The slow client stops reading: its socket's kernel buffers fill, and its frames stay in the stream.
    (slow.client as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const serverSocket = (slow.server as unknown as { _socket: { writableLength: number } })._socket;
    const expectedSlow: string[] = [];
    const expectedFast: string[] = [];
    let turnsBackedUp = 0;
    for (let turn = 0; turnsBackedUp < 20 && turn < 5_000; turn++) {
      // Different lengths and contents each turn, so a frame built over another shows.
      const shared = `"turn":${turn},"body":"${String.fromCharCode(97 + (turn % 26)).repeat(turn % 2 ? 20_000 : 700)}"}`;
      slow.server.sendShared(Buffer.from('{"id":1,'), Buffer.from(shared));
      fast.server.sendShared(Buffer.from('{"id":2,'), Buffer.from(shared));
      expectedSlow.push(`{"id":1,${shared}`);
      expectedFast.push(`{"id":2,${shared}`);
      await nextTurn();
      if (serverSocket.writableLength > 0) turnsBackedUp += 1;
    }
    expect(turnsBackedUp).toBe(20);
    await expect.poll(() => fast.received.length, { timeout: 10_000 }).toBe(expectedFast.length);
    (slow.client as unknown as { _socket: { resume(): void } })._socket.resume();
    await expect.poll(() => slow.received.length, { timeout: 10_000 }).toBe(expectedSlow.length);
    expect(fast.received).toEqual(expectedFast);
    expect(slow.received).toEqual(expectedSlow);
  });
});
