import { randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';

/**
 * The errors the domain throws, in one place: services throw these (or TRPCErrors made
 * here), and the error formatter (trpc.ts) turns their fields into `error.data`.
 */

/** A field someone else changed after the version an update was based on. */
export interface FieldConflict {
  field: string;
  /** Its value now. */
  value: unknown;
  changedById: string;
  /** The version in which they last changed it. */
  version: number;
}

/** Thrown as the cause of a CONFLICT so the error carries the record as it is now and the contested fields. */
export class VersionConflict extends Error {
  constructor(
    readonly current: unknown,
    readonly conflicts: FieldConflict[] = [],
  ) {
    super('The record was changed by someone else');
  }
}

const errorIds = new WeakMap<object, string>();

/**
 * The id under which an internal error is answered and logged: the same for one error
 * object whoever asks first (the error formatter or `onError`, whose order differs between
 * the HTTP and WebSocket doors).
 */
export function errorIdOf(error: object): string {
  let id = errorIds.get(error);
  if (!id) errorIds.set(error, (id = randomBytes(6).toString('hex')));
  return id;
}

/** Carried as the cause of TOO_MANY_REQUESTS (or SERVICE_UNAVAILABLE); the error formatter exposes `retryAfterMs`. */
export class RateLimited extends Error {
  constructor(
    readonly limit: string,
    readonly retryAfterMs: number,
  ) {
    super(`Too many requests (${limit}); retry in ${retryAfterMs} ms`);
  }
}

export function tooManyRequests(limit: string, retryAfterMs: number): TRPCError {
  const cause = new RateLimited(limit, retryAfterMs);
  return new TRPCError({ code: 'TOO_MANY_REQUESTS', message: cause.message, cause });
}

/**
 * The server, not the caller, is too busy (e.g. too many commits waiting): the call
 * changed nothing and may be sent again as it is after `retryAfterMs`, which the
 * client link does (TOO_MANY_REQUESTS is the caller's own limit, shown instead).
 */
export function serviceUnavailable(limit: string, retryAfterMs: number): TRPCError {
  const cause = new RateLimited(limit, retryAfterMs);
  return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: serviceUnavailableMessage(limit, retryAfterMs), cause });
}

/** What `serviceUnavailable` tells the caller. */
export function serviceUnavailableMessage(limit: string, retryAfterMs: number): string {
  return `Server busy (${limit}); retry in ${retryAfterMs} ms`;
}
