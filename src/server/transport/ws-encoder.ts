import { sharedJson } from '../bus/shared-events.ts';

/** How messages become text frames and back. */
export interface WsEncoder {
  encode(message: unknown): string;
  decode(data: string): unknown;
  /**
   * Writes what `encode` makes of a subscription's tracked item
   * (`{ id, jsonrpc, result: { type: 'data', data: { id: trackedId, data }, id: trackedId } }`),
   * by a shorter way: what lets a subscription write its own frames (ws-handler's `directDelivery`).
   */
  writeTracked?(socket: FrameSocket, target: SubscriptionTarget, trackedId: string, data: unknown): void;
}

/**
 * tRPC's default ws encoder runs `JSON.stringify` on every message, so an event
 * delivered to N subscribers is serialized N times. Published events are frozen
 * and shared (bus/shared-events.ts): their JSON is computed once and spliced into
 * each subscriber's envelope. The bytes on the wire are what tRPC's own encoder
 * would send, so any tRPC client keeps working.
 */
export const wsEncoder: WsEncoder = {
  encode(message: unknown) {
    const envelope = message as { id?: unknown; jsonrpc?: unknown; result?: { type?: unknown; id?: unknown; data?: { id?: unknown; data?: unknown } } };
    const result = envelope.result;
    if (result?.type === 'data' && typeof result.id === 'string' && result.data?.id === result.id) {
      // Everything after the subscriber's own id is the same for every subscriber of the
      // event: built once (see sharedFrameTail), so a delivery costs one concatenation.
      const tail = sharedFrameTail(result.data.data, result.id, envelope.jsonrpc);
      if (tail !== undefined) return `${framePrefix(envelope.id)}${tail}`;
    }
    return JSON.stringify(message);
  },
  decode(data) {
    return JSON.parse(data);
  },
  writeTracked(socket, target, trackedId, data) {
    const shared = socket.sendShared ? sharedFrameTailBytes(data, trackedId, target.jsonrpc) : undefined;
    // The prefix is the same for every frame of the subscription: encoded once.
    if (shared) socket.sendShared!((target.prefixBytes ??= Buffer.from(framePrefix(target.id))), shared);
    else socket.send(encodeTrackedFrame(target, trackedId, data));
  },
};

/** Where a subscription's frames go: its request's id (and jsonrpc). */
export interface SubscriptionTarget {
  readonly id: string | number;
  readonly jsonrpc: unknown;
  /** `framePrefix(id)` as UTF-8, made at the subscription's first shared frame. */
  prefixBytes?: Buffer | undefined;
}

/** Where a subscription's frames are written: a WebSocket, which may take a frame in two parts (ws-batching.ts). */
export interface FrameSocket {
  send(data: string): void;
  sendShared?(prefix: Buffer, shared: Buffer): void;
}

/** The frame tRPC would send for a tracked item of that subscription; with a shared event, one concatenation. */
export function encodeTrackedFrame(target: SubscriptionTarget, trackedId: string, data: unknown): string {
  const tail = sharedFrameTail(data, trackedId, target.jsonrpc);
  if (tail === undefined) return JSON.stringify({ id: target.id, jsonrpc: target.jsonrpc, result: { type: 'data', data: { id: trackedId, data }, id: trackedId } });
  return `${framePrefix(target.id)}${tail}`;
}

/** A subscriber's own start of each frame: `{"id":…,`. */
function framePrefix(id: unknown): string {
  return `{"id":${Number.isSafeInteger(id) ? String(id) : JSON.stringify(id)},`;
}

const frameTails = new WeakMap<object, { trackedId: string; jsonrpc: unknown; tail: string; bytes?: Buffer }>();

/**
 * The part of a subscriber's frame after its own `"id":…,` for a shared event tracked as
 * `trackedId`: the same for every subscriber, so it is built once per event (and per
 * jsonrpc variant) and reused. Undefined when the value is not a shared event.
 */
function sharedFrameTail(value: unknown, trackedId: string, jsonrpc: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const cached = frameTails.get(value);
  if (cached && cached.trackedId === trackedId && cached.jsonrpc === jsonrpc) return cached.tail;
  const eventJson = sharedJson(value);
  if (eventJson === undefined) return undefined;
  const id = JSON.stringify(trackedId);
  const rpc = jsonrpc === undefined ? '' : `"jsonrpc":${JSON.stringify(jsonrpc)},`;
  // Key for key in the order tRPC's adapter builds the envelope (`type`, `data`, then the tracked `id`).
  const tail = `${rpc}"result":{"type":"data","data":{"id":${id},"data":${eventJson}},"id":${id}}}`;
  frameTails.set(value, { trackedId, jsonrpc, tail });
  return tail;
}

/** The last `sharedFrameTailBytes` answer: a fan-out asks for the same one for each of its subscribers in a row. */
let last: { value: unknown; trackedId: string; jsonrpc: unknown; bytes: Buffer } | undefined;

/** `sharedFrameTail` as UTF-8 bytes, encoded once per event for every socket it is written to. */
function sharedFrameTailBytes(value: unknown, trackedId: string, jsonrpc: unknown): Buffer | undefined {
  if (last && last.value === value && last.trackedId === trackedId && last.jsonrpc === jsonrpc) return last.bytes;
  const tail = sharedFrameTail(value, trackedId, jsonrpc);
  if (tail === undefined) return undefined;
  const cached = frameTails.get(value as object)!;
  const bytes = (cached.bytes ??= Buffer.from(tail));
  last = { value, trackedId, jsonrpc, bytes };
  return bytes;
}
