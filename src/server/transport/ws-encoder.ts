import type { WsEncoder } from './ws-handler.ts';
import { sharedFrameTail, sharedFrameTailBytes } from '../bus/shared-events.ts';

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
};

/**
 * Where a subscription's frames go: its request's id (and jsonrpc), for writing them
 * without tRPC's loop. Given to the procedure in its context (subscribe.ts).
 */
export interface SubscriptionTarget {
  id: string | number;
  jsonrpc: unknown;
  /** `framePrefix(id)` as UTF-8, made at the subscription's first shared frame. */
  prefixBytes?: Buffer | undefined;
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

/** Where a subscription's frames are written: a WebSocket, which may take a frame in two parts (ws-batching.ts). */
export interface FrameSocket {
  send(data: string): void;
  sendShared?(prefix: Buffer, shared: Buffer): void;
}

/**
 * Writes what `encodeTrackedFrame` makes. A shared event's part after the subscriber's
 * id is written as the same bytes to every socket, encoded once, where the socket can.
 */
export function sendTrackedFrame(socket: FrameSocket, target: SubscriptionTarget, trackedId: string, data: unknown): void {
  const shared = socket.sendShared ? sharedFrameTailBytes(data, trackedId, target.jsonrpc) : undefined;
  // The prefix is the same for every frame of the subscription: encoded once.
  if (shared) socket.sendShared!((target.prefixBytes ??= Buffer.from(framePrefix(target.id))), shared);
  else socket.send(encodeTrackedFrame(target, trackedId, data));
}
