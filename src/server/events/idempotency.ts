import { createHash } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import type { Tx } from '../db/client.ts';

/**
 * A mutation's idempotency, for both commit strategies (commit-transaction.ts,
 * commit-statement.ts): the key's lookup, the answer to a retry and the key's store are
 * defined here once, as SQL both strategies send.
 */
export interface IdempotencyOptions {
  userId: string;
  key: string;
  /** What was asked: the procedure and its input without the key. */
  request: unknown;
}

/**
 * A mutation's idempotency: with the caller's key, applied once per user and key, and
 * the key tied to what was asked (`scope`, e.g. module and action, and the input without the key).
 */
export function idempotencyOf(caller: { user: { id: string }; idempotencyKey?: string | undefined }, scope: string[], input: unknown): IdempotencyOptions | undefined {
  return caller.idempotencyKey ? { userId: caller.user.id, key: caller.idempotencyKey, request: [...scope, input] } : undefined;
}

/** What an idempotency key is tied to: see `IdempotencyOptions.request`. */
export function hashRequest(request: unknown): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('base64url');
}

/** A key used before: that use's result again, or BAD_REQUEST when it was used for another request. */
export function earlierResult<T>(previous: { requestHash: string; result: unknown }, requestHash: string): T {
  if (previous.requestHash !== requestHash) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'This idempotencyKey was already used for a different request' });
  }
  return previous.result as T;
}

/** The key's earlier use, as SQL on the user and key parameters. */
export function earlierUseSql(user: string, key: string): string {
  return `SELECT "requestHash", result FROM "IdempotencyKey" WHERE "userId" = ${user} AND key = ${key}`;
}

/** Stores the key with the change's result: followed by `VALUES (…)` or a `SELECT` of user, key, hash and result. */
export const KEEP_KEY = `INSERT INTO "IdempotencyKey" ("userId", key, "requestHash", result)`;

const EARLIER_USE = earlierUseSql('$1::text', '$2::text');
const KEEP_KEY_VALUES = `${KEEP_KEY} VALUES ($1::text, $2::text, $3::text, $4::jsonb)`;

/** In a transaction: the key's earlier result (see `earlierResult`), or undefined when the key is new. */
export async function findEarlierResult<T>(tx: Pick<Tx, '$queryRawUnsafe'>, idempotency: IdempotencyOptions, requestHash: string): Promise<{ result: T } | undefined> {
  const [previous] = await tx.$queryRawUnsafe<{ requestHash: string; result: unknown }[]>(EARLIER_USE, idempotency.userId, idempotency.key);
  return previous && { result: earlierResult<T>(previous, requestHash) };
}

/** In the change's transaction: the key with its result, for a retry to get back. */
export async function keepKey(tx: Tx, idempotency: IdempotencyOptions, requestHash: string, result: unknown): Promise<void> {
  await tx.$executeRawUnsafe(KEEP_KEY_VALUES, idempotency.userId, idempotency.key, requestHash, JSON.stringify(result));
}
