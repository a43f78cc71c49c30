import { randomBytes } from 'node:crypto';
import type { AnyModule } from '../../shared/modules.ts';
import type pg from 'pg';
import { embeddedDatabaseOf, parseUtcTimestamp, serverDatabaseOf, TIMESTAMP_OID, type Db } from '../db/client.ts';
import { earlierResult, hashRequest, publishCommitted, runInOrgQueue, type IdempotencyOptions } from '../events/commit.ts';
import { EVENT_INSERT, EVENT_RETURNING, LOCK_ORG_LOG, previousSeqOf, sequenced, type WrittenEventRow } from '../events/log.ts';
import type { Metrics } from '../metrics.ts';
import type { EventBus } from '../bus/types.ts';
import type { WireRecord } from './wire.ts';

/**
 * A record's write, its event row and the caller's idempotency key as ONE SQL
 * statement (data-modifying `WITH`s): what `commitChange` does in four to six
 * statements and a transaction. Each statement costs the embedded database about
 * 0.3 ms of CPU and Prisma about 0.2 ms more, on the core that also fans the event
 * out, so this is most of a commit's cost (issue 7). Only for changes with nothing
 * else to write in their transaction (no references to check, no alert or
 * notification to raise: see `service.ts`); everything else takes `commitChange`.
 * An update is guarded by the version its caller expects, so it needs no read first:
 * when the record moved on, nothing is written and `commitChange` takes over (merges,
 * conflicts).
 *
 * The same guarantees: one statement is atomic, so the record, its event and the key
 * are written together or not at all; on a PostgreSQL server the statement runs after
 * the org's log lock in one transaction, so `prevSeq` and `seq` order are final as in
 * `commitChange`; PGlite runs one statement at a time anyway. The event and the
 * record are read back as the API returns them (the same JSON as `toWire`).
 */

interface TableShape {
  table: string;
  /** Column → its SQL type, for the casts of the parameters. */
  types: Map<string, string>;
  /** The row of `alias` as JSON in its wire form (timestamps as ISO strings), without the columns of `except`. */
  wire(alias: string, except?: string): string;
}

const shapes = new WeakMap<Db, Map<string, Promise<TableShape>>>();

function tableShape(db: Db, module: AnyModule): Promise<TableShape> {
  let ofDb = shapes.get(db);
  if (!ofDb) shapes.set(db, (ofDb = new Map()));
  let shape = ofDb.get(module.model);
  if (!shape) {
    shape = readTableShape(db, `${module.model[0]!.toUpperCase()}${module.model.slice(1)}`);
    ofDb.set(module.model, shape);
    shape.catch(() => ofDb.delete(module.model));
  }
  return shape;
}

async function readTableShape(db: Db, table: string): Promise<TableShape> {
  const columns = await db.$queryRawUnsafe<{ name: string; type: string }[]>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
     WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    `"${table}"`,
  );
  if (columns.length === 0) throw new Error(`No columns found for table ${table}`);
  // toISOString's format; a timestamp column holds UTC (Prisma writes it so).
  const iso = (alias: string, column: string, type: string) =>
    `to_char(${alias}.${quote(column)}${type.includes('with time zone') ? ` AT TIME ZONE 'UTC'` : ''}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const timestamps = columns.filter((column) => column.type.startsWith('timestamp'));
  const wire = (alias: string, except?: string) => {
    const row = except ? `(to_jsonb(${alias}) - '${except}')` : `to_jsonb(${alias})`;
    return timestamps.length ? `${row} || jsonb_build_object(${timestamps.map((column) => `'${column.name}', ${iso(alias, column.name, column.type)}`).join(', ')})` : row;
  };
  return { table, types: new Map(columns.map((column) => [column.name, column.type])), wire };
}

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** A fresh record id in the shape of Prisma's `cuid()`: `c`, the time, then randomness. */
export function newRecordId(): string {
  const random = randomBytes(10).readBigUInt64BE().toString(36).padStart(13, '0').slice(0, 13);
  return `c${Date.now().toString(36).padStart(9, '0')}${random}${randomBytes(2).readUInt16BE().toString(36).padStart(3, '0')}`;
}

class Params {
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

interface StatementRow extends Partial<WrittenEventRow> {
  record: WireRecord | null;
  priorHash?: string | null;
  priorResult?: unknown;
}

export interface OneStatementChange {
  module: AnyModule;
  orgId: string;
  userId: string;
  action: 'created' | 'updated';
  /**
   * The write, as SQL with its values added to `params`, writing only where `guard`
   * holds; it returns the row written (`RETURNING *`), and with `'changes'` the row as
   * it was, in wire form, as `before`.
   */
  write(shape: TableShape, params: Params, guard: string): string;
  /**
   * The event's data: the record itself (absent), or (`'changes'`) each field whose wire
   * value differs between `before` and the record written, as `{ from, to }`: the
   * fields `diffPatch` and `addBookkeeping` give in service.ts.
   */
  eventData?: 'changes';
  idempotency?: IdempotencyOptions | undefined;
}

/** The record written, or `undefined` when the write matched no row (see the write). */
export async function commitInOneStatement(deps: { db: Db; bus: EventBus; metrics?: Metrics }, change: OneStatementChange): Promise<WireRecord | undefined> {
  const shape = await tableShape(deps.db, change.module);
  const params = new Params();
  const org = params.add(change.orgId, 'text');
  const user = params.add(change.userId, 'text');
  const requestHash = change.idempotency && hashRequest(change.idempotency.request);
  const key = change.idempotency && {
    user: params.add(change.idempotency.userId, 'text'),
    key: params.add(change.idempotency.key, 'text'),
    hash: params.add(requestHash, 'text'),
  };
  const guard = key ? 'NOT EXISTS (SELECT FROM prior)' : 'true';
  const write = change.write(shape, params, guard);
  const before = change.eventData === 'changes';
  const data = before
    ? `(SELECT COALESCE(jsonb_object_agg(after.key, jsonb_build_object('from', before.value, 'to', after.value)), '{}')
        FROM jsonb_each(out.record) AS after JOIN jsonb_each(out.before) AS before USING (key)
        WHERE after.value IS DISTINCT FROM before.value AND after.key <> 'version')`
    : 'out.record';
  const sql = `WITH ${key ? `prior AS (SELECT "requestHash", result FROM "IdempotencyKey" WHERE "userId" = ${key.user} AND key = ${key.key}),` : ''}
  rec AS (${write}),
  out AS (SELECT rec.id, rec.version, ${before ? `${shape.wire('rec', 'before')} AS record, rec.before` : `${shape.wire('rec')} AS record`} FROM rec),
  ev AS (${EVENT_INSERT}
    SELECT ${org}, ${params.add(change.module.name, 'text')}, ${params.add(change.action, 'text')}, out.id, out.version, ${user}, ${data},
      NULL, ${previousSeqOf(org)} FROM out
    ${EVENT_RETURNING})
  ${key ? `, kept AS (INSERT INTO "IdempotencyKey" ("userId", key, "requestHash", result) SELECT ${key.user}, ${key.key}, ${key.hash}, out.record FROM out)` : ''}
  SELECT out.record, ev.*${key ? `, (SELECT "requestHash" FROM prior) AS "priorHash", (SELECT result FROM prior) AS "priorResult"` : ''}
  FROM (SELECT 1) AS one LEFT JOIN out ON true LEFT JOIN ev ON true`;

  return runInOrgQueue(change.orgId, async () => {
    const embedded = embeddedDatabaseOf(deps.db);
    const rows = embedded
      ? (await embedded.query<StatementRow>(sql, params.values, { parsers: { [TIMESTAMP_OID]: parseUtcTimestamp } })).rows
      : await underOrgLogLock(serverDatabaseOf(deps.db)!, change.orgId, sql, params.values);
    const row = rows[0];
    if (row?.priorHash != null) return earlierResult<WireRecord>({ requestHash: row.priorHash, result: row.priorResult }, requestHash);
    if (!row?.record || row.seq == null) return undefined;
    publishCommitted(deps, [sequenced(row as WrittenEventRow)]);
    return row.record;
  });
}

/**
 * On a PostgreSQL server: the statement in a transaction after the org's log lock, so
 * that the previous seq it reads is final (a statement's snapshot is taken before any
 * lock inside it could be). Straight through `pg`: Prisma's batch transaction cost
 * more CPU than the statement.
 */
async function underOrgLogLock(pool: pg.Pool, orgId: string, sql: string, values: unknown[]): Promise<StatementRow[]> {
  const client = await pool.connect();
  let reusable = false;
  try {
    await client.query('BEGIN');
    try {
      await client.query(LOCK_ORG_LOG, [orgId]);
      const { rows } = await client.query<StatementRow>(sql, values);
      await client.query('COMMIT');
      reusable = true;
      return rows;
    } catch (error) {
      await client.query('ROLLBACK');
      reusable = true;
      throw error;
    }
  } finally {
    // A connection that could not even roll back is closed rather than given back to the pool.
    client.release(!reusable);
  }
}

/** Record values → columns: the given ones, each cast to its column's type. */
export function columnValues(shape: TableShape, params: Params, values: Record<string, unknown>): { columns: string[]; placeholders: string[] } {
  const columns: string[] = [];
  const placeholders: string[] = [];
  for (const [column, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const type = shape.types.get(column);
    if (!type) throw new Error(`${shape.table} has no column ${column}`);
    columns.push(quote(column));
    placeholders.push(params.add(value, type));
  }
  return { columns, placeholders };
}

/** INSERT of the given values, the table's defaults for the rest. */
export function insertRecord(values: Record<string, unknown>) {
  return (shape: TableShape, params: Params, guard: string) => {
    const { columns, placeholders } = columnValues(shape, params, values);
    return `INSERT INTO ${quote(shape.table)} (${columns.join(', ')}) SELECT ${placeholders.join(', ')} WHERE ${guard} RETURNING *`;
  };
}

/**
 * UPDATE of `values` and `version + 1` with `bookkeeping` (who and when), only if the
 * record is still at `version` and `values` change it; returns the row as it was in
 * wire form too (`before`), for the event's `'changes'`. No row: not found, moved on,
 * or nothing to change.
 */
export function updateRecordIfChanged(where: { id: string; orgId: string; version: number }, values: Record<string, unknown>, bookkeeping: Record<string, unknown>) {
  return (shape: TableShape, params: Params, guard: string) => {
    const { columns, placeholders } = columnValues(shape, params, { ...values, ...bookkeeping });
    const set = columns.map((column, i) => `${column} = ${placeholders[i]}`);
    const changes = Object.keys(values)
      .filter((field) => values[field] !== undefined)
      .map((field) => `cur.${quote(field)} IS DISTINCT FROM ${placeholders[columns.indexOf(quote(field))]}`);
    const table = quote(shape.table);
    return `UPDATE ${table} AS rec SET ${[...set, 'version = rec.version + 1'].join(', ')}
      FROM (SELECT * FROM ${table} WHERE id = ${params.add(where.id, 'text')} AND "orgId" = ${params.add(where.orgId, 'text')}
            AND version = ${params.add(where.version, 'integer')}) AS cur
      WHERE rec.id = cur.id AND (${changes.join(' OR ') || 'false'}) AND ${guard}
      RETURNING rec.*, ${shape.wire('cur')} AS before`;
  };
}
