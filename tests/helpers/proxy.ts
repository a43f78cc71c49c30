import { createServer, request, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** `api-down`: the web app's files still load (as from a cache), the API and WebSockets do not. */
export type ProxyMode = 'pass' | 'no-websocket' | 'api-down' | 'offline';

export interface TestProxy extends AsyncDisposable {
  url: string;
  /** `no-websocket` refuses upgrades like a proxy that blocks WebSockets; `offline` refuses everything. Both cut open tunnels. */
  setMode(mode: ProxyMode): void;
  /** WebSocket tunnels currently open through the proxy. */
  openTunnels(): number;
  /**
   * The next time the server sends a WebSocket frame containing `marker`, the tunnel is
   * cut instead of forwarding it: the server did the work, the client never hears back.
   */
  dropReplyContaining(marker: string): Promise<void>;
  /** Stop moving bytes through open tunnels while keeping them open (a dead network path); new ones pass. */
  stallTunnels(): void;
  /** Sends new connections to another server from now on and cuts the open tunnels (a load balancer moving clients). */
  retarget(next: { port: number }): void;
}

/**
 * A real HTTP proxy on a random loopback port in front of the test server, so tests
 * can block WebSockets or cut the network the way a corporate proxy or a dropped
 * connection would, without touching the server.
 */
export async function startProxy(initialTarget: { port: number }): Promise<TestProxy> {
  let target = initialTarget;
  let mode: ProxyMode = 'pass';
  const tunnels = new Set<Duplex>();
  let dropRule: { marker: string; done: () => void } | undefined;
  const stalled = new Set<Duplex>();
  const requests = new Set<Socket>();

  const server = createServer((req, res) => {
    if (mode === 'offline' || (mode === 'api-down' && req.url?.startsWith('/trpc'))) {
      req.socket.destroy();
      return;
    }
    const upstream = request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers }, (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    requests.add(socket);
    socket.on('close', () => requests.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (mode !== 'pass') {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(target.port, '127.0.0.1', () => {
      const headers = Object.entries(req.headers).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}`));
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      socket.on('data', (chunk: Buffer) => {
        if (!stalled.has(socket)) upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (stalled.has(socket)) return;
        if (dropRule && chunk.includes(dropRule.marker)) {
          const rule = dropRule;
          dropRule = undefined;
          close();
          rule.done();
          return;
        }
        socket.write(chunk);
      });
    });
    const close = () => {
      tunnels.delete(socket);
      stalled.delete(socket);
      socket.destroy();
      upstream.destroy();
    };
    tunnels.add(socket);
    socket.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setMode(next) {
      mode = next;
      if (mode !== 'pass') for (const socket of tunnels) socket.destroy();
      if (mode === 'offline' || mode === 'api-down') for (const socket of requests) socket.destroy();
    },
    openTunnels: () => tunnels.size,
    dropReplyContaining(marker) {
      return new Promise<void>((resolve) => (dropRule = { marker, done: resolve }));
    },
    stallTunnels() {
      for (const socket of tunnels) stalled.add(socket);
    },
    retarget(next) {
      target = next;
      for (const socket of tunnels) socket.destroy();
      for (const socket of requests) socket.destroy();
    },
    async [Symbol.asyncDispose]() {
      for (const socket of tunnels) socket.destroy();
      for (const socket of requests) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
