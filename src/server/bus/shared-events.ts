import type { LogEvent } from '../../shared/events.ts';

/**
 * Events handed to many subscribers at once. They are frozen when published, so
 * their JSON can be computed once and reused for every subscriber (see ws-encoder).
 */
const sharedEvents = new WeakMap<object, string | undefined>();

export function markShared(event: LogEvent): void {
  if (sharedEvents.has(event)) return;
  Object.freeze(event);
  sharedEvents.set(event, undefined);
}

/** The event's JSON, computed on first use; undefined when the value is not a shared event. */
export function sharedJson(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !sharedEvents.has(value)) return undefined;
  let json = sharedEvents.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    sharedEvents.set(value, json);
  }
  return json;
}

const frameTails = new WeakMap<object, { trackedId: string; jsonrpc: unknown; tail: string; bytes?: Buffer }>();

/**
 * The part of a subscriber's frame after its own `"id":…,` for a shared event tracked as
 * `trackedId`: the same for every subscriber, so it is built once per event (and per
 * jsonrpc variant) and reused. Undefined when the value is not a shared event.
 */
export function sharedFrameTail(value: unknown, trackedId: string, jsonrpc: unknown): string | undefined {
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
export function sharedFrameTailBytes(value: unknown, trackedId: string, jsonrpc: unknown): Buffer | undefined {
  if (last && last.value === value && last.trackedId === trackedId && last.jsonrpc === jsonrpc) return last.bytes;
  const tail = sharedFrameTail(value, trackedId, jsonrpc);
  if (tail === undefined) return undefined;
  const cached = frameTails.get(value as object)!;
  const bytes = (cached.bytes ??= Buffer.from(tail));
  last = { value, trackedId, jsonrpc, bytes };
  return bytes;
}
