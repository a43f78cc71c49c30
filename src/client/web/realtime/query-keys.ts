import { partialMatchKey, type QueryKey } from '@tanstack/react-query';
import { getQueryKey } from '@trpc/react-query';

/**
 * Finding the cached queries of a tRPC procedure with tRPC's public API, not by reading
 * @trpc/react-query's key layout: `getQueryKey(procedure)` builds the key of every query of
 * the procedure (any input, query or infinite), `getQueryKey(procedure, input)` the key of
 * those with that input, and React Query matches a cached key against it by prefix
 * (`partialMatchKey`, what `findAll({ queryKey })` and `invalidateQueries` use).
 *
 * @see https://trpc.io/docs/v11/getQueryKey
 */

/** A procedure (or router) of the `trpc` proxy, as `getQueryKey` takes it. */
export type ProcedureOrRouter = Parameters<typeof getQueryKey>[0];

/** Whether a cached key is a query of `procedure` (of any procedure under it, for a router). */
export function isQueryOf(key: QueryKey, procedure: ProcedureOrRouter): boolean {
  return partialMatchKey(key, getQueryKey(procedure));
}

/**
 * One field of the input a query was made with. The key is where tRPC keeps it (its own
 * `queryFn` reads the input back from there), so this is the one place that looks inside:
 * call it only on a key `isQueryOf` accepted.
 */
export function inputField(key: QueryKey, field: string): unknown {
  const meta = key[1];
  if (typeof meta !== 'object' || meta === null || !('input' in meta)) return undefined;
  const { input } = meta;
  if (typeof input !== 'object' || input === null) return undefined;
  const value: unknown = Reflect.get(input, field);
  return value;
}

/** `inputField` when it is one of `values`, else undefined. */
export function inputChoice<const T extends string>(key: QueryKey, field: string, values: readonly T[]): T | undefined {
  const value = inputField(key, field);
  return values.find((each) => each === value);
}
