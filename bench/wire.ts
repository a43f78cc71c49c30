/**
 * The load generator's WebSocket client: RFC 6455 on a `net` socket, only what the
 * benchmark needs (text out; text or binary in, fragmented or not; ping, pong, close).
 *
 * Why not the `ws` package's client: near 100,000 deliveries/s the load generator's core
 * is part of every contestant's latency, and most of its time went to the path a frame
 * takes through Node's streams and `ws`'s receiver (a Buffer per read, a Readable and a
 * Writable per socket, an event per frame). Here every socket reads into one shared
 * buffer (`onread`) and a frame is handed over as a view of it, so it must be used
 * before `onmessage` returns. Servers are unchanged: they see an ordinary client.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');
/** Shared by every socket: each read is consumed before the next one starts. */
const readBuffer = Buffer.allocUnsafe(256 * 1024);
const maskKey = Buffer.alloc(4);

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
/** No status code in a close frame (RFC 6455 §7.4.1). */
const NO_STATUS = 1005;
/** Closed without a close frame. */
const ABNORMAL = 1006;
const PROTOCOL_ERROR = 1002;

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

export class WireSocket {
  readyState: 0 | 1 | 2 | 3 = CONNECTING;
  /** The handshake is done. */
  onopen: () => void = () => {};
  /** One whole message; `data` is only valid until this returns. */
  onmessage: (data: Buffer) => void = () => {};
  /** The close code the server sent; 1006 when the connection ended without one, 1002 when the server broke the protocol. */
  onclose: (code: number) => void = () => {};

  readonly #socket: net.Socket;
  readonly #key = randomBytes(16).toString('base64');
  /** Bytes of an unfinished frame (or handshake) kept from the last read. */
  #carry: Buffer | null = null;
  /** The parts so far of a fragmented message. */
  #fragments: Buffer[] | null = null;
  #closeCode = ABNORMAL;

  constructor(url: string) {
    const { hostname, port, pathname, search, host } = new URL(url);
    this.#socket = net.connect({
      host: hostname,
      port: Number(port),
      noDelay: true,
      onread: { buffer: readBuffer, callback: (bytes) => this.#onRead(readBuffer.subarray(0, bytes)) },
    });
    this.#socket.on('connect', () => {
      this.#socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${this.#key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    // A 'close' always follows.
    this.#socket.on('error', () => {});
    this.#socket.on('close', () => {
      this.readyState = CLOSED;
      this.onclose(this.#closeCode);
    });
  }

  send(text: string) {
    if (this.readyState === OPEN) this.#sendFrame(OP_TEXT, Buffer.from(text));
  }

  /** Starts the closing handshake; the server's close frame (or 5 s) ends the connection. */
  close(code = 1000) {
    if (this.readyState !== OPEN) return this.terminate();
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.#sendFrame(OP_CLOSE, payload);
    this.readyState = CLOSING;
    setTimeout(() => this.terminate(), 5_000).unref();
  }

  /** Drops the connection without a closing handshake, as a lost network does. */
  terminate() {
    if (this.readyState !== CLOSED) this.readyState = CLOSING;
    this.#socket.destroy();
  }

  /** Always true: never pause the socket. */
  #onRead(chunk: Buffer): true {
    this.#read(chunk);
    return true;
  }

  #read(chunk: Buffer) {
    if (this.readyState === CLOSED) return;
    let data = chunk;
    if (this.#carry) {
      data = Buffer.concat([this.#carry, chunk]);
      this.#carry = null;
    }
    let at = this.readyState === CONNECTING ? this.#handshake(data) : 0;
    if (at < 0) return;
    while (at + 2 <= data.length) {
      const head = data[at]!;
      const second = data[at + 1]!;
      // A server must not mask its frames (RFC 6455 §5.1).
      if (second & 0x80) return this.#fail();
      let length = second & 0x7f;
      let start = at + 2;
      if (length === 126) {
        if (start + 2 > data.length) break;
        length = data.readUInt16BE(start);
        start += 2;
      } else if (length === 127) {
        if (start + 8 > data.length) break;
        length = data.readUInt32BE(start) * 2 ** 32 + data.readUInt32BE(start + 4);
        start += 8;
      }
      const end = start + length;
      if (end > data.length) break;
      this.#onFrame(head, data.subarray(start, end));
      // `onmessage` may have dropped the connection.
      if (this.#socket.destroyed) return;
      at = end;
    }
    // Copied: `chunk` is the shared read buffer, overwritten by the next read of any socket.
    if (at < data.length) this.#carry = Buffer.from(data.subarray(at));
  }

  /** Where the frames start after the server's 101 response, -1 when it has not all come (or was refused). */
  #handshake(data: Buffer): number {
    const end = data.indexOf(HEADER_END);
    if (end < 0) {
      this.#carry = Buffer.from(data);
      return -1;
    }
    const [status, ...headers] = data.toString('latin1', 0, end).split('\r\n');
    const accept = createHash('sha1')
      .update(this.#key + GUID)
      .digest('base64');
    const answered = headers.some((line) => /^sec-websocket-accept:/i.test(line) && line.slice(line.indexOf(':') + 1).trim() === accept);
    if (!status?.startsWith('HTTP/1.1 101 ') || !answered) {
      this.#fail();
      return -1;
    }
    this.readyState = OPEN;
    this.onopen();
    return this.readyState === OPEN ? end + HEADER_END.length : -1;
  }

  #onFrame(head: number, payload: Buffer) {
    const final = (head & 0x80) !== 0;
    const opcode = head & 0x0f;
    if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.#fragments) return this.#fail();
      if (final) this.onmessage(payload);
      else this.#fragments = [Buffer.from(payload)];
    } else if (opcode === OP_CONTINUATION) {
      if (!this.#fragments) return this.#fail();
      this.#fragments.push(Buffer.from(payload));
      if (final) {
        const message = Buffer.concat(this.#fragments);
        this.#fragments = null;
        this.onmessage(message);
      }
    } else if (opcode === OP_CLOSE) {
      this.#closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : NO_STATUS;
      if (this.readyState === OPEN) this.#sendFrame(OP_CLOSE, payload.subarray(0, 2));
      this.readyState = CLOSING;
      this.#socket.end();
    } else if (opcode === OP_PING) {
      if (this.readyState === OPEN) this.#sendFrame(0xa, Buffer.from(payload));
    }
    // A pong, or an opcode no server here sends: nothing to do.
  }

  #fail() {
    this.#closeCode = this.readyState === CONNECTING ? ABNORMAL : PROTOCOL_ERROR;
    this.terminate();
  }

  /** Client frames are masked (RFC 6455 §5.3). */
  #sendFrame(opcode: number, payload: Buffer) {
    const length = payload.length;
    const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
    const frame = Buffer.allocUnsafe(2 + lengthBytes + 4 + length);
    frame[0] = 0x80 | opcode;
    if (lengthBytes === 0) frame[1] = 0x80 | length;
    else if (lengthBytes === 2) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      frame.writeUInt32BE(length >>> 0, 6);
    }
    const maskAt = 2 + lengthBytes;
    randomFillSync(maskKey);
    maskKey.copy(frame, maskAt);
    const dataAt = maskAt + 4;
    for (let i = 0; i < length; i++) frame[dataAt + i] = payload[i]! ^ maskKey[i & 3]!;
    this.#socket.write(frame);
  }
}
