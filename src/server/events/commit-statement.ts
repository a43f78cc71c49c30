import type { Db } from '../db/client.ts';
import type { CurrentValues } from './effects.ts';
import { groupCommitOf } from './group-commit.ts';
import { earlierResult, earlierUseSql, hashRequest, KEEP_KEY, type IdempotencyOptions } from './idempotency.ts';
import { sequenced, type SequencedEvent, type WrittenEventRow } from './log.ts';
import { recordEventSql, type RecordAction } from './record-event.ts';

/**
 * The one-statement strategy of `commitChange`: a record's write, its event row and the
 * caller's idempotency key as ONE SQL statement (data-modifying `WITH`s), where the
 * general strategy takes four to six statements and a transaction. Each statement costs
 * the embedded database about 0.3 ms of CPU and Prisma about 0.2 ms more, on the core
 * that also fans the event out, so this is most of a commit's cost (issue 7).
 *
 * The same guarantees: one statement is atomic, so the record, its event and the key
 * are written together or not at all; it is committed with the others that arrive
 * together (group-commit.ts), after the org's log lock on a PostgreSQL server, so
 * `prevSeq` and `seq` order are final as in the general strategy. The event is
 * `recordEventSql`'s and the key is kept by `idempotency.ts`'s SQL, as in the general
 * strategy.
 */

/** The values of a statement, each added as a cast parameter. */
export class StatementParams {
  readonly values: unknown[] = [];
  /** `$n::type` for the next value. */
  add(value: unknown, type: string): string {
    // As text: every driver (PGlite, pg) then sends the same value, and `pg` never reads a JSON array as a Postgres array.
    this.values.push(
      value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? value.toString() : type === 'jsonb' && value !== null ? JSON.stringify(value) : value,
    );
    return `$${this.values.length}::${type}`;
  }
}

/** A record change as one statement: what `commitChange` takes besides the general form. */
export interface OneStatement {
  module: string;
  action: RecordAction;
  userId: string;
  /**
   * The event's data as far as it is known before the write (an update's `to` values),
   * for the effects to say whether they could follow (see `effectsMayFollow`).
   */
  preview: Record<string, unknown>;
  /**
   * For `updated`: the only fields the write can change, when it knows them; its
   * `before` then needs to hold only these (the event's changes are read from them).
   */
  fields?: readonly string[];
  /**
   * The write, as SQL with its values added to `params`, writing only where `guard`
   * holds, `RETURNING` its `id`, its `version`, the row as `record` in its wire form
   * (jsonb, as the API returns it) and, for `updated`, the row before as `before`. No row (not found, moved on,
   * nothing to change): the change is left to the general strategy.
   */
  write(params: StatementParams, guard: string, unlessBefore?: CurrentValues): string;
  /**
   * For `updated`: writes nothing where the record holds one of these values before (see
   * `mayFollowFrom` in effects.ts); the general strategy then makes the change.
   */
  unlessBefore?: CurrentValues;
}

interface StatementRow extends Partial<WrittenEventRow> {
  result: unknown;
  priorHash?: string | null;
  priorResult?: unknown;
}

/** What the statement wrote: its result and event; `undefined` when the write matched no row. */
export async function commitInOneStatement<T>(
  db: Db,
  orgId: string,
  change: OneStatement,
  idempotency: IdempotencyOptions | undefined,
  grouping: { atOnce?: boolean } = {},
): Promise<{ result: T; events: SequencedEvent[] } | undefined> {
  const params = new StatementParams();
  const org = params.add(orgId, 'text');
  const requestHash = idempotency && hashRequest(idempotency.request);
  const key = idempotency &&
    requestHash && {
      user: params.add(idempotency.userId, 'text'),
      key: params.add(idempotency.key, 'text'),
      hash: params.add(requestHash, 'text'),
    };
  const guard = key ? 'NOT EXISTS (SELECT FROM prior)' : 'true';
  const write = change.write(params, guard, change.unlessBefore);
  const columns = {
    org,
    module: params.add(change.module, 'text'),
    action: params.add(change.action, 'text'),
    user: params.add(change.userId, 'text'),
    mergedFromVersion: 'NULL::integer',
    // A choice made after a conflict goes the general way (records/service.ts).
    overridesVersion: 'NULL::integer',
  };
  // A deletion answers with the id it deleted, as the general strategy's does.
  const result = change.action === 'deleted' ? `jsonb_build_object('id', rec.id)` : 'rec.record';
  const sql = `WITH ${key ? `prior AS (${earlierUseSql(key.user, key.key)}),` : ''}
  rec AS (${write}),
  ev AS (${recordEventSql(change.action, columns, 'rec', change.fields)})
  ${key ? `, kept AS (${KEEP_KEY} SELECT ${key.user}, ${key.key}, ${key.hash}, ${result} FROM rec)` : ''}
  SELECT ${result} AS result, ev.*${key ? `, (SELECT "requestHash" FROM prior) AS "priorHash", (SELECT result FROM prior) AS "priorResult"` : ''}
  FROM (SELECT 1) AS one LEFT JOIN rec ON true LEFT JOIN ev ON true`;

  const rows = (await groupCommitOf(db).commit(orgId, { sql, values: params.values }, grouping)) as StatementRow[];
  const row = rows[0];
  if (row?.priorHash != null && requestHash) return { result: earlierResult<T>({ requestHash: row.priorHash, result: row.priorResult }, requestHash), events: [] };
  if (row?.seq == null) return undefined;
  return { result: row.result as T, events: [sequenced(row as WrittenEventRow)] };
}
