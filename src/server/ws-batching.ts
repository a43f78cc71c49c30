import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

/**
 * Writes each socket's frames of one event-loop turn in one syscall: the first send
 * of a turn corks the socket, one `setImmediate` uncorks every socket corked in that
 * turn. A fan-out of one event to N subscribers on one connection, or a replay, is
 * then one `writev` instead of one per frame. The frames themselves do not change.
 * (The bare `ws` baseline of the benchmarks measured 0.79× the CPU per delivery.)
 */
const corked = new Set<Socket>();
let flushScheduled = false;

function flush() {
  flushScheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * The server's sockets, given to `WebSocketServer` as its `WebSocket` class: `send` is
 * wrapped once on the prototype rather than per connection (a bound `send` and a
 * closure for each of 10,000 idle connections).
 */
export class BatchingWebSocket extends WebSocket {
  /**
   * Sends the text frame `prefix` + `shared`, where `shared` is the same bytes for
   * every socket an event goes to (frames of one event differ only in the
   * subscription's id in front): they are written as they are, not concatenated,
   * re-encoded and copied once per socket; only the frame header and the prefix are
   * made per socket. (Socket.IO writes a broadcast's pre-encoded frame the same way.)
   */
  sendShared(prefix: string, shared: Buffer): void {
    const internals = this as unknown as WsInternals;
    const socket = internals._socket;
    const sender = internals._sender;
    // ws writes straight to the socket too when its sender is idle (no compression, no queue).
    if (!socket || !sender || sender._state !== 0 || sender._queue.length > 0) {
      this.send(`${prefix}${shared.toString()}`);
      return;
    }
    // As `send` after close: nothing goes out.
    if (this.readyState !== WebSocket.OPEN) return;
    corkForThisTurn(socket);
    const prefixLength = Buffer.byteLength(prefix);
    const length = prefixLength + shared.length;
    const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const head = Buffer.allocUnsafe(headerLength + prefixLength);
    head[0] = 0x81; // FIN, text frame; a server's frames are not masked.
    if (length < 126) {
      head[1] = length;
    } else if (length < 65_536) {
      head[1] = 126;
      head.writeUInt16BE(length, 2);
    } else {
      head[1] = 127;
      head.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      head.writeUInt32BE(length >>> 0, 6);
    }
    head.write(prefix, headerLength);
    socket.write(head);
    socket.write(shared);
  }
}

/** What `sendShared` reads of ws's WebSocket (ws 8): its TCP socket and its sender's state. */
interface WsInternals {
  _socket?: Socket | null;
  _sender?: { _state: number; _queue: unknown[] } | null;
}

function corkForThisTurn(socket: Socket) {
  if (typeof socket.cork !== 'function' || corked.has(socket) || socket.destroyed) return;
  socket.cork();
  corked.add(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

const send = WebSocket.prototype.send;
BatchingWebSocket.prototype.send = function (this: WebSocket, ...args: unknown[]) {
  // `_socket` is ws's underlying TCP socket; absent in unusual setups, where nothing is batched.
  const socket = (this as unknown as WsInternals)._socket;
  if (socket) corkForThisTurn(socket);
  (send as (...args: unknown[]) => void).apply(this, args);
} as WebSocket['send'];
