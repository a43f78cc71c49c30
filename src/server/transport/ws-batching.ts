import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

/**
 * Writes each socket's frames of one event-loop turn in one syscall, at the end of the
 * turn (one `setImmediate` for all sockets):
 *
 * - A socket's shared frames of a turn (`sendShared`, a fan-out's) are held and written
 *   together at the end of the turn, built one after another in a buffer reused from
 *   socket to socket: one plain write, with none of the corked stream's bookkeeping
 *   (queued chunks and their arrays, the uncork's writev) and no buffer per frame. That
 *   bookkeeping was most of the garbage a fan-out made, and most of what lived long
 *   enough to reach the old generation (a sampling heap profile of the objects that
 *   full collections freed, at 150 events/s to 1,000 subscribers): so most of the full
 *   collections' pauses behind the latency tail.
 * - Any other frame of the turn corks the socket (after writing the held frames into
 *   it, so the order stays as sent), and the end of the turn uncorks it: a reply, or a
 *   replay, and the frames after it in that turn, are one `writev`.
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
    holding[i]!.writeHeldFrames();
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
  /**
   * This turn's shared frames, written at the end of the turn or before anything sent
   * after them: the first `#heldLength` entries, as prefix, shared, prefix, shared…. Made
   * at the socket's first shared frame, then reused (entries are overwritten, not
   * cleared: an array per turn would be garbage per socket); idle sockets have none.
   */
  #held: Buffer[] | undefined = undefined;
  #heldLength = 0;
  /** The held frames' bytes: part of `bufferedAmount`, so backpressure sees them, and bounded by `MAX_HELD_BYTES`. */
  #heldBytes = 0;

  static {
    // ws declares `bufferedAmount` a property (its getter is on the prototype): redefined here, with the held bytes.
    const { get } = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'bufferedAmount')!;
    Object.defineProperty(BatchingWebSocket.prototype, 'bufferedAmount', {
      get(this: BatchingWebSocket) {
        return (get!.call(this) as number) + this.#heldBytes;
      },
    });
  }

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
    const length = textFrameLength(prefix, shared);
    // Not corked: nothing but held frames was sent this turn, so holding this one too keeps the order.
    if (socket.writableCorked === 0 && this.#heldBytes + length <= MAX_HELD_BYTES) {
      if (this.#heldLength === 0) {
        holding[heldCount++] = this;
        scheduleFlush();
      }
      const held = (this.#held ??= []);
      held[this.#heldLength++] = prefix;
      held[this.#heldLength++] = shared;
      this.#heldBytes += length;
      return;
    }
    this.releaseHeldFrames();
    corkForThisTurn(socket);
    // Corked, the stream keeps the buffer till the end of the turn: a buffer of its own.
    const frame = Buffer.allocUnsafe(length);
    writeTextFrame(prefix, shared, frame, 0);
    socket.write(frame);
  }

  /** @internal At the end of the turn. */
  writeHeldFrames(): void {
    const length = this.#heldLength;
    if (length === 0) return;
    this.#heldLength = 0;
    this.#heldBytes = 0;
    const socket = (this as unknown as WsInternals)._socket;
    if (socket && !socket.destroyed && this.readyState === WebSocket.OPEN) writeFramesNow(socket, this.#held!, length);
  }

  /** @internal Before anything else is written: the held frames go first, into this turn's cork. */
  releaseHeldFrames(): void {
    if (this.#heldLength === 0) return;
    const socket = (this as unknown as WsInternals)._socket;
    if (socket) corkForThisTurn(socket);
    this.writeHeldFrames();
  }

  override close(code?: number, data?: string | Buffer): void {
    // A frame sent before the close goes out before the close frame, as with `send`.
    this.releaseHeldFrames();
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
/**
 * What one socket may hold for the end of the turn: past it (many events, or large ones,
 * in one turn), the held frames go into the corked stream and the rest of the turn's
 * frames after them, where the socket's own buffer and backpressure take over.
 */
const MAX_HELD_BYTES = SCRATCH_BYTES;

/** The first `heldLength` entries of `held` (prefix, shared, …) as frames one after another, in one write. */
function writeFramesNow(socket: Socket, held: Buffer[], heldLength: number) {
  let length = 0;
  for (let i = 0; i < heldLength; i += 2) length += textFrameLength(held[i]!, held[i + 1]!);
  if (!scratch || scratch.length - scratchUsed < length) {
    scratch = Buffer.allocUnsafeSlow(Math.max(SCRATCH_BYTES, length));
    scratchUsed = 0;
  }
  let end = scratchUsed;
  for (let i = 0; i < heldLength; i += 2) end = writeTextFrame(held[i]!, held[i + 1]!, scratch, end);
  socket.write(scratch.subarray(scratchUsed, end));
  if (socket.writableLength > 0) scratchUsed = end;
}

function textFrameLength(prefix: Buffer, shared: Buffer): number {
  const length = prefix.length + shared.length;
  return (length < 126 ? 2 : length < 65_536 ? 4 : 10) + length;
}

/** A server's unmasked, final text frame of `prefix` + `shared`, written into `target` at `at`; returns where it ends. */
function writeTextFrame(prefix: Buffer, shared: Buffer, target: Buffer, at: number): number {
  const prefixLength = prefix.length;
  const length = prefixLength + shared.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  target[at] = 0x81; // FIN, text frame; a server's frames are not masked.
  if (length < 126) {
    target[at + 1] = length;
  } else if (length < 65_536) {
    target[at + 1] = 126;
    target.writeUInt16BE(length, at + 2);
  } else {
    target[at + 1] = 127;
    target.writeUInt32BE(Math.floor(length / 2 ** 32), at + 2);
    target.writeUInt32BE(length >>> 0, at + 6);
  }
  prefix.copy(target, at + headerLength);
  shared.copy(target, at + headerLength + prefixLength);
  return at + headerLength + length;
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
  this.releaseHeldFrames();
  // `_socket` is ws's underlying TCP socket; absent in unusual setups, where nothing is batched.
  const socket = (this as unknown as WsInternals)._socket;
  if (socket) corkForThisTurn(socket);
  (send as (...args: unknown[]) => void).apply(this, args);
} as WebSocket['send'];
