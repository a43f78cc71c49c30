import { getTRPCErrorShape, type AnyRouter } from '@trpc/server';
import { serviceUnavailable, serviceUnavailableMessage } from '../errors.ts';

/** Why the WebSocket door refuses a mutation before running it (events/commit-admission.ts). */
export const BUSY_LIMIT = 'commits waiting';

type Shape = ReturnType<typeof getTRPCErrorShape>;

/**
 * The error a mutation is refused with while commits are backed up, as the router's error
 * formatter shapes `serviceUnavailable(BUSY_LIMIT, retryAfterMs)`. At an overload refusals
 * outnumber calls (about 2.6 per call over 60 s at 4×), and each one built as an error (a
 * TRPCError and its cause, two stack traces, the formatter's copies) took about 8 % of the
 * CPU the overload lacks. So the formatter's shape is made once per procedure and only
 * the hint changes.
 */
export class BusyRefusals {
  readonly #shapes = new Map<string, Shape>();

  constructor(readonly router: AnyRouter) {}

  /** The error for a refused call of `path`; undefined when `path` names no mutation (the caller builds the error itself). */
  shapeOf(path: string | undefined, retryAfterMs: number): Shape | undefined {
    if (path === undefined) return undefined;
    let shape = this.#shapes.get(path);
    if (!shape) {
      // Only the router's mutations: the map stays as small as the router.
      if (this.router._def.procedures[path]?._def.type !== 'mutation') return undefined;
      const error = serviceUnavailable(BUSY_LIMIT, 0);
      shape = getTRPCErrorShape({ config: this.router._def._config, error, type: 'mutation', path, input: undefined, ctx: undefined });
      this.#shapes.set(path, shape);
    }
    return { ...shape, message: serviceUnavailableMessage(BUSY_LIMIT, retryAfterMs), data: { ...shape.data, retryAfterMs } };
  }
}
