import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

/**
 * Writes each socket's frames of one event-loop turn in one syscall, at the end of the
 * turn (one `setImmediate` for all sockets):
 *
 * - A socket's first shared frame of a turn (`sendShared`, a fan-out's) is held and
 *   written by itself at the end of the turn, built in a buffer reused from socket to
 *   socket: a plain write, with none of the corked stream's bookkeeping (queued chunks
 *   and their arrays, the uncork's writev) and no buffer per socket. That bookkeeping
 *   was most of the garbage a fan-out made, and so most of its scavenges and of the
 *   latency tail behind them.
 * - Any other frame of the turn corks the socket (after writing a held frame into it,
 *   so the order stays as sent), and the end of the turn uncorks it: a fan-out of
 *   several events to one connection in one turn, or a replay, is one `writev`.
 *
 * The frames themselves do not change.
 */
const corked = new Set<Socket>();
/** Sockets holding a frame for the end of the turn; the array is reused, `heldCount` long. */
const holding: (BatchingWebSocket | undefined)[] = [];
let heldCount = 0;
let flushScheduled = false;

function scheduleFlush() {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}

function flush() {
  flushScheduled = false;
  for (let i = 0; i < heldCount; i++) {
    holding[i]!.writeHeldFrame();
    holding[i] = undefined;
  }
  heldCount = 0;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * The server's sockets, given to `WebSocketServer` as its `WebSocket` class: `send` is
 * wrapped once on the prototype rather than per connection (a bound `send` and a
 * closure for each of 10,000 idle connections).
 */
export class BatchingWebSocket extends WebSocket {
  /** This turn's first shared frame (`prefix` + `shared`), written at the end of the turn or before anything sent after it. */
  #heldPrefix: Buffer | undefined = undefined;
  #heldShared: Buffer | undefined = undefined;

  /**
   * Sends the text frame `prefix` + `shared`, where `shared` is the same bytes for
   * every socket an event goes to (frames of one event differ only in the
   * subscription's id in front): encoded once per event and copied into each socket's
   * frame, not concatenated and re-encoded per socket. (Socket.IO writes a broadcast's
   * pre-encoded frame the same way.)
   */
  sendShared(prefix: Buffer, shared: Buffer): void {
    const internals = this as unknown as WsInternals;
    const socket = internals._socket;
    const sender = internals._sender;
    // ws writes straight to the socket too when its sender is idle (no compression, no queue).
    if (!socket || !sender || sender._state !== 0 || sender._queue.length > 0) {
      this.send(`${prefix.toString()}${shared.toString()}`);
      return;
    }
    // As `send` after close: nothing goes out.
    if (this.readyState !== WebSocket.OPEN) return;
    if (this.#heldShared === undefined && socket.writableCorked === 0) {
      this.#heldPrefix = prefix;
      this.#heldShared = shared;
      holding[heldCount++] = this;
      scheduleFlush();
      return;
    }
    this.releaseHeldFrame();
    corkForThisTurn(socket);
    // Corked, the stream keeps the buffer till the end of the turn: a buffer of its own.
    socket.write(textFrame(prefix, shared, Buffer.allocUnsafe(textFrameLength(prefix, shared))));
  }

  /** @internal At the end of the turn. */
  writeHeldFrame(): void {
    const shared = this.#heldShared;
    if (shared === undefined) return;
    const prefix = this.#heldPrefix!;
    this.#heldShared = undefined;
    this.#heldPrefix = undefined;
    const socket = (this as unknown as WsInternals)._socket;
    if (socket && !socket.destroyed && this.readyState === WebSocket.OPEN) writeFrameNow(socket, prefix, shared);
  }

  /** @internal Before anything else is written: the held frame goes first, into this turn's cork. */
  releaseHeldFrame(): void {
    if (this.#heldShared === undefined) return;
    const socket = (this as unknown as WsInternals)._socket;
    if (socket) corkForThisTurn(socket);
    this.writeHeldFrame();
  }

  override close(code?: number, data?: string | Buffer): void {
    // A frame sent before the close goes out before the close frame, as with `send`.
    this.releaseHeldFrame();
    super.close(code, data);
  }
}

/**
 * Where frames written at the end of a turn are built: one buffer reused from frame to
 * frame as long as the kernel takes each frame whole (nothing is left in the stream,
 * so nothing points into the buffer any more), rather than a buffer per socket per
 * event, whose memory outside V8's heap made it run full collections. A frame the
 * kernel did not take at once keeps its bytes; the next one is built after them.
 */
let scratch: Buffer | undefined;
let scratchUsed = 0;
const SCRATCH_BYTES = 64 * 1024;

function writeFrameNow(socket: Socket, prefix: Buffer, shared: Buffer) {
  const length = textFrameLength(prefix, shared);
  if (!scratch || scratch.length - scratchUsed < length) {
    scratch = Buffer.allocUnsafeSlow(Math.max(SCRATCH_BYTES, length));
    scratchUsed = 0;
  }
  const frame = textFrame(prefix, shared, scratch.subarray(scratchUsed, scratchUsed + length));
  socket.write(frame);
  if (socket.writableLength > 0) scratchUsed += length;
}

function textFrameLength(prefix: Buffer, shared: Buffer): number {
  const length = prefix.length + shared.length;
  return (length < 126 ? 2 : length < 65_536 ? 4 : 10) + length;
}

/** A server's unmasked, final text frame of `prefix` + `shared`, written into `frame` (`textFrameLength` long). */
function textFrame(prefix: Buffer, shared: Buffer, frame: Buffer): Buffer {
  const prefixLength = prefix.length;
  const length = prefixLength + shared.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  frame[0] = 0x81; // FIN, text frame; a server's frames are not masked.
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  prefix.copy(frame, headerLength);
  shared.copy(frame, headerLength + prefixLength);
  return frame;
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
  scheduleFlush();
}

const send = WebSocket.prototype.send;
BatchingWebSocket.prototype.send = function (this: BatchingWebSocket, ...args: unknown[]) {
  this.releaseHeldFrame();
  // `_socket` is ws's underlying TCP socket; absent in unusual setups, where nothing is batched.
  const socket = (this as unknown as WsInternals)._socket;
  if (socket) corkForThisTurn(socket);
  (send as (...args: unknown[]) => void).apply(this, args);
} as WebSocket['send'];
