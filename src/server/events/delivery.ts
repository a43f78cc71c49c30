/**
 * The seam between a log stream and the transport that serves it.
 *
 * A log subscription is an ordinary async iterable of `tracked` items, and any
 * transport serves it as tRPC serves every subscription. It may also *offer* to be
 * told about the connection it is served on; the transport decides whether to take
 * the offer, and with what:
 *
 * - `flow`: whether the connection's outbound buffer is full, and when it has drained.
 *   The stream then parks (leaves the bus, so nothing piles up for it) and catches up
 *   from the log afterwards, rather than handing over items nobody can send.
 * - `send`: where the stream may write its items itself, as the frames the transport
 *   would make of them. A fan-out then costs one write per subscriber, not a turn of
 *   the subscription's loop and a promise each. A transport gives it only where the
 *   frames are the same either way (no data transformer).
 *
 * Nothing here knows of sockets or envelopes: those belong to the transport.
 */
export interface DeliveryFlow {
  /** True while the connection has more waiting to go out than it may. */
  isBackedUp(): boolean;
  /** Resolves true once the connection can take more, false when it closed first. */
  whenDrained(): Promise<boolean>;
}

export interface DeliveryPort {
  flow: DeliveryFlow;
  /** Writes one tracked item as the subscription's next data frame. */
  send?(trackedId: string, data: unknown): void;
}

/**
 * The method by which an iterable asks for its port. A wrapper around a stream (a
 * middleware's, say) implements it by passing the port on: `offerDelivery(inner, port)`.
 */
export const acceptDelivery = Symbol('tandem.acceptDelivery');

interface AcceptsDelivery {
  [acceptDelivery](port: DeliveryPort): void;
}

/** `iterable`, asking for its connection's port with `accept` (called at most once, before the first item is asked for). */
export function offeringDelivery<T extends object>(iterable: T, accept: (port: DeliveryPort) => void): T {
  return Object.assign(iterable, { [acceptDelivery]: accept });
}

/** Gives `port` to a subscription's result if it asks for one. True when it did. */
export function offerDelivery(result: unknown, port: DeliveryPort): boolean {
  const accept = typeof result === 'object' && result !== null ? (result as Partial<AcceptsDelivery>)[acceptDelivery] : undefined;
  if (typeof accept !== 'function') return false;
  accept.call(result, port);
  return true;
}
