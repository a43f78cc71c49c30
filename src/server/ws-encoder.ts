import type { Encoder } from '@trpc/server/adapters/ws';
import { sharedFrameTail } from './bus/shared-events.ts';

/**
 * tRPC's default ws encoder runs `JSON.stringify` on every message, so an event
 * delivered to N subscribers is serialized N times. Published events are frozen
 * and shared (bus/shared-events.ts): their JSON is computed once and spliced into
 * each subscriber's envelope. The bytes on the wire are what tRPC's own encoder
 * would send, so any tRPC client keeps working.
 */
export const wsEncoder: Encoder = {
  encode(message: unknown) {
    const envelope = message as { id?: unknown; jsonrpc?: unknown; result?: { type?: unknown; id?: unknown; data?: { id?: unknown; data?: unknown } } };
    const result = envelope.result;
    if (result?.type === 'data' && typeof result.id === 'string' && result.data?.id === result.id) {
      // Everything after the subscriber's own id is the same for every subscriber of the
      // event: built once (see sharedFrameTail), so a delivery costs one concatenation.
      const tail = sharedFrameTail(result.data.data, result.id, envelope.jsonrpc);
      if (tail !== undefined) {
        const id = Number.isSafeInteger(envelope.id) ? String(envelope.id) : JSON.stringify(envelope.id);
        return `{"id":${id},${tail}`;
      }
    }
    return JSON.stringify(message);
  },
  decode(data) {
    if (typeof data !== 'string') throw new Error('Expected a text frame');
    return JSON.parse(data);
  },
};
