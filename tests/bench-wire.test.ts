/**
 * The load generator's WebSocket client (bench/wire.ts) against a real `ws` server: what
 * it sends must be valid to a strict server, and every message must arrive whole however
 * the bytes are split between reads, including while many sockets share its read buffer.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSED, OPEN, WireSocket } from '../bench/wire.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Waits for `check` to hold, as the rest of the suite does (vitest's `vi.waitFor`). */
function until(check: () => boolean, what: string) {
  return vi.waitFor(
    () => {
      if (!check()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: 5_000, interval: 5 },
  );
}

/** A `ws` server on a random loopback port; `refuse` answers the upgrade with 401. */
async function startServer(options: { refuse?: boolean } = {}) {
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const peers: WebSocket[] = [];
  const received: string[] = [];
  http.on('upgrade', (request, socket, head) => {
    if (options.refuse) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      peers.push(ws);
      ws.on('message', (data) => received.push(String(data)));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => http.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/path?x=1`, peers, received };
}

function connect(url: string) {
  const socket = new WireSocket(url);
  const messages: string[] = [];
  const closes: number[] = [];
  let opened = false;
  socket.onopen = () => (opened = true);
  // Copied to a string at once: the bytes are only valid during the call.
  socket.onmessage = (data) => messages.push(data.toString());
  socket.onclose = (code) => closes.push(code);
  cleanups.push(async () => {
    socket.terminate();
    await until(() => socket.readyState === CLOSED, 'the socket to close');
  });
  return { socket, messages, closes, opened: () => opened };
}

describe('the load generator WebSocket client', () => {
  it('opens, sends masked text a strict server accepts, and receives text', async () => {
    const server = await startServer();
    const client = connect(server.url);
    await until(() => client.opened() && server.peers.length === 1, 'the handshake');
    expect(client.socket.readyState).toBe(OPEN);
    const long = 'é'.repeat(40_000);
    client.socket.send('hello');
    client.socket.send(long);
    await until(() => server.received.length === 2, 'the server to receive both');
    expect(server.received).toEqual(['hello', long]);
    server.peers[0]!.send('world');
    await until(() => client.messages.length === 1, 'the reply');
    expect(client.messages).toEqual(['world']);
  });

  it('receives every message whole: bursts, 16- and 64-bit lengths, fragments, several sockets reading at once', async () => {
    const server = await startServer();
    const clients = [connect(server.url), connect(server.url), connect(server.url)];
    await until(() => server.peers.length === 3, 'three handshakes');
    // Larger than the shared read buffer, so each of them spans reads that interleave with the others'.
    const expected = server.peers.map((_, n) => [
      ...Array.from({ length: 500 }, (_, i) => `${n}:small:${i}`),
      String(n).repeat(70_000),
      String(n).repeat(1_000_000),
      `${n}:fragmented:one+two`,
    ]);
    server.peers.forEach((peer, n) => {
      for (const message of expected[n]!.slice(0, -1)) peer.send(message);
      peer.send(`${n}:fragmented:`, { fin: false });
      peer.send('one+', { fin: false });
      peer.send('two', { fin: true });
    });
    await until(() => clients.every((client, n) => client.messages.length === expected[n]!.length), 'every message');
    for (const [n, client] of clients.entries()) expect(client.messages).toEqual(expected[n]);
  });

  it('answers a ping with a pong carrying its payload', async () => {
    const server = await startServer();
    connect(server.url);
    await until(() => server.peers.length === 1, 'the handshake');
    const pongs: string[] = [];
    server.peers[0]!.on('pong', (data) => pongs.push(String(data)));
    server.peers[0]!.ping('are you there');
    await until(() => pongs.length === 1, 'the pong');
    expect(pongs).toEqual(['are you there']);
  });

  it('reports the close code the server sends, and closes with its own', async () => {
    const server = await startServer();
    const closedByServer = connect(server.url);
    await until(() => server.peers.length === 1, 'the first handshake');
    server.peers[0]!.close(4001, 'go away');
    await until(() => closedByServer.closes.length === 1, 'the close');
    expect(closedByServer.closes).toEqual([4001]);

    const closing = connect(server.url);
    await until(() => server.peers.length === 2 && closing.opened(), 'the second handshake');
    const codes: number[] = [];
    server.peers[1]!.on('close', (code) => codes.push(code));
    closing.socket.close(4002);
    await until(() => codes.length === 1 && closing.closes.length === 1, 'both ends to close');
    expect(codes).toEqual([4002]);
    expect(closing.closes).toEqual([4002]);
  });

  it('reports 1006 for a refused upgrade or a dropped connection, without opening on a refusal', async () => {
    const refused = connect((await startServer({ refuse: true })).url);
    await until(() => refused.closes.length === 1, 'the refusal');
    expect(refused.closes).toEqual([1006]);
    expect(refused.opened()).toBe(false);

    const server = await startServer();
    const dropped = connect(server.url);
    await until(() => server.peers.length === 1 && dropped.opened(), 'the handshake');
    server.peers[0]!.terminate();
    await until(() => dropped.closes.length === 1, 'the drop');
    expect(dropped.closes).toEqual([1006]);
  });
});
