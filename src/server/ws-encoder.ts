import type { Encoder } from '@trpc/server/adapters/ws';
import { sharedJson } from './bus/shared-events.ts';

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
      const eventJson = sharedJson(result.data.data);
      if (eventJson !== undefined) {
        const id = JSON.stringify(envelope.id);
        const trackedId = JSON.stringify(result.id);
        const jsonrpc = envelope.jsonrpc === undefined ? '' : `"jsonrpc":${JSON.stringify(envelope.jsonrpc)},`;
        return `{"id":${id},${jsonrpc}"result":{"type":"data","id":${trackedId},"data":{"id":${trackedId},"data":${eventJson}}}}`;
      }
    }
    return JSON.stringify(message);
  },
  decode(data) {
    if (typeof data !== 'string') throw new Error('Expected a text frame');
    return JSON.parse(data);
  },
};
