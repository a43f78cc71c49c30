import type { LogEvent } from '../../shared/events.ts';

/**
 * Events handed to many subscribers at once. They are frozen when published, so
 * their JSON can be computed once and reused for every subscriber (a transport's
 * encoder splices it into each subscriber's frame).
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
