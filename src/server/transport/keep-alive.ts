import type { WebSocket, WebSocketServer } from 'ws';

export interface KeepAliveOptions {
  /** A connection that sent nothing for this long gets a `PING`. */
  pingMs: number;
  /** Then, one that sends nothing for this long more is terminated. */
  pongWaitMs: number;
}

const HEARD_AT = Symbol('tandem.heardAt');
const PINGED_AT = Symbol('tandem.pingedAt');

interface Watched {
  [HEARD_AT]?: number;
  [PINGED_AT]?: number;
}

/**
 * When a socket was last heard from, recorded up to a quarter of `pingMs` early, at
 * random: connections opened or answering together (every client, after a restart)
 * would otherwise be pinged in the same sweep every `pingMs` for as long as they stay,
 * and their PONGs would come back in one burst (1,000 of them stalled a fan-out's
 * deliveries by tens of ms in the benchmark). A PING may come that much sooner; none
 * comes later.
 */
function heardAt(pingMs: number): number {
  return Date.now() - Math.random() * pingMs * 0.25;
}

/**
 * tRPC's adapter keepAlive (the same `PING` text frame, answered by any message, tRPC
 * clients answer `PONG`), with one timer for the server instead of two timers and
 * four closures per connection: about 0.5 KB for each of 10,000 idle connections. The
 * sweep runs every quarter of the shorter wait, so a PING or a termination comes at
 * most that much later than with a timer each.
 * @see https://github.com/trpc/trpc/blob/main/packages/server/src/adapters/ws.ts (handleKeepAlive)
 */
export function keepConnectionsAlive(wss: WebSocketServer, { pingMs, pongWaitMs }: KeepAliveOptions): () => void {
  // Every listener of every socket is this one function: nothing is allocated per connection.
  function heard(this: WebSocket & Watched) {
    this[HEARD_AT] = heardAt(pingMs);
    this[PINGED_AT] = 0;
  }
  const onConnection = (socket: WebSocket & Watched) => {
    socket[HEARD_AT] = heardAt(pingMs);
    socket[PINGED_AT] = 0;
    socket.on('message', heard);
  };
  wss.on('connection', onConnection);
  const sweep = () => {
    const now = Date.now();
    for (const socket of wss.clients as Set<WebSocket & Watched>) {
      const pingedAt = socket[PINGED_AT];
      if (pingedAt === undefined) continue;
      if (pingedAt === 0) {
        if (now - socket[HEARD_AT]! < pingMs) continue;
        socket[PINGED_AT] = now;
        socket.send('PING');
      } else if (now - pingedAt >= pongWaitMs) {
        socket.terminate();
      }
    }
  };
  const timer = setInterval(sweep, Math.max(10, Math.min(pingMs, pongWaitMs) / 4));
  timer.unref();
  return () => {
    clearInterval(timer);
    wss.off('connection', onConnection);
  };
}
