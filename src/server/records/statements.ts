import { randomBytes } from 'node:crypto';
import type { AnyModule } from '../../shared/modules.ts';
import type { Db } from '../db/client.ts';
import type { OneStatement, StatementParams } from '../events/commit-statement.ts';
import type { CurrentValues } from '../events/effects.ts';
import type { RecordAction } from '../events/record-event.ts';

/**
 * Record writes as SQL, for the one-statement strategy of `commitChange`
 * (events/commit-statement.ts): the tables' columns and types, and each write in the
 * form that strategy takes (written only where its guard holds, returning the row in
 * its wire form, the same JSON as `toWire`). Only for changes with nothing else to
 * check in their transaction (no references: see `service.ts`). An update or a delete
 * is guarded by the version its caller expects, so it needs no read first: when the
 * record moved on, nothing is written and the general strategy takes over (merges,
 * conflicts, not found).
 */

export interface TableShape {
  table: string;
  /** Column → its SQL type, for the casts of the parameters. */
  types: Map<string, string>;
  /** The row of `alias` as JSON in its wire form (timestamps as ISO strings). */
  wire(alias: string): string;
  /** Only these columns of the row of `alias`, in the same form. */
  wireOf(alias: string, columns: readonly string[]): string;
}

const shapes = new WeakMap<Db, Map<string, Promise<TableShape>>>();

export function tableShape(db: Db, module: AnyModule): Promise<TableShape> {
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
  const wire = (alias: string) =>
    timestamps.length
      ? `to_jsonb(${alias}) || jsonb_build_object(${timestamps.map((column) => `'${column.name}', ${iso(alias, column.name, column.type)}`).join(', ')})`
      : `to_jsonb(${alias})`;
  const types = new Map(columns.map((column) => [column.name, column.type]));
  const wireOf = (alias: string, names: readonly string[]) =>
    `jsonb_build_object(${names
      .map((name) => {
        const type = types.get(name);
        return `'${name}', ${type?.startsWith('timestamp') ? iso(alias, name, type) : `to_jsonb(${alias}.${quote(name)})`}`;
      })
      .join(', ')})`;
  return { table, types, wire, wireOf };
}

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** A fresh record id in the shape of Prisma's `cuid()`: `c`, the time, then randomness. */
export function newRecordId(): string {
  const random = randomBytes(10).readBigUInt64BE().toString(36).padStart(13, '0').slice(0, 13);
  return `c${Date.now().toString(36).padStart(9, '0')}${random}${randomBytes(2).readUInt16BE().toString(36).padStart(3, '0')}`;
}

/** A record change as the one statement `commitChange` may take: `write` over the module's table. */
export async function recordStatement(
  db: Db,
  module: AnyModule,
  change: { action: RecordAction; userId: string; preview: Record<string, unknown> },
  write: RecordWrite,
): Promise<OneStatement> {
  const shape = await tableShape(db, module);
  return { module: module.name, ...change, fields: write.fields, write: (params, guard, unlessBefore) => write(shape, params, guard, unlessBefore) };
}

/** A write over a module's table; `fields`: the only columns it can change, when it knows them. */
type RecordWrite = ((shape: TableShape, params: StatementParams, guard: string, unlessBefore?: CurrentValues) => string) & { fields?: readonly string[] };

/** Record values → columns: the given ones, each cast to its column's type. */
function columnValues(shape: TableShape, params: StatementParams, values: Record<string, unknown>): { columns: string[]; placeholders: string[] } {
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
  return (shape: TableShape, params: StatementParams, guard: string) => {
    const { columns, placeholders } = columnValues(shape, params, values);
    return `INSERT INTO ${quote(shape.table)} AS rec (${columns.join(', ')}) SELECT ${placeholders.join(', ')} WHERE ${guard}
      RETURNING rec.id, rec.version, ${shape.wire('rec')} AS record`;
  };
}

/**
 * UPDATE of `values` and `version + 1` with `bookkeeping` (who and when), only if the
 * record is still at `version` and `values` change it; returns the written columns as
 * they were too (`before`), for the event's changes. No row: not found, moved on, or
 * nothing to change.
 */
export function updateRecordIfChanged(where: { id: string; orgId: string; version: number }, values: Record<string, unknown>, bookkeeping: Record<string, unknown>): RecordWrite {
  const written = { ...values, ...bookkeeping };
  const fields = Object.keys(written).filter((field) => written[field] !== undefined);
  const write = (shape: TableShape, params: StatementParams, guard: string, unlessBefore?: CurrentValues) => {
    const { columns, placeholders } = columnValues(shape, params, written);
    const set = columns.map((column, i) => `${column} = ${placeholders[i]}`);
    const changes = Object.keys(values)
      .filter((field) => values[field] !== undefined)
      .map((field) => `cur.${quote(field)} IS DISTINCT FROM ${placeholders[columns.indexOf(quote(field))]}`);
    const table = quote(shape.table);
    return `UPDATE ${table} AS rec SET ${[...set, 'version = rec.version + 1'].join(', ')}
      FROM (SELECT * FROM ${table} WHERE id = ${params.add(where.id, 'text')} AND "orgId" = ${params.add(where.orgId, 'text')}
            AND version = ${params.add(where.version, 'integer')}) AS cur
      WHERE rec.id = cur.id AND (${changes.join(' OR ') || 'false'}) AND ${guard}${notBefore(shape, params, unlessBefore)}
      RETURNING rec.id, rec.version, ${shape.wire('rec')} AS record, ${shape.wireOf('cur', fields)} AS before`;
  };
  // Only these columns change: the event's changes are read from them alone (record-event.ts).
  return Object.assign(write, { fields });
}

/** SQL that holds unless the current row (`cur`) has one of these values: ` AND (cur.f IS NULL OR cur.f NOT IN (…))`. */
function notBefore(shape: TableShape, params: StatementParams, unlessBefore: CurrentValues | undefined): string {
  let sql = '';
  for (const [field, values] of Object.entries(unlessBefore ?? {})) {
    const type = shape.types.get(field);
    if (!type) throw new Error(`${shape.table} has no column ${field}`);
    const listed = values.filter((value) => value !== null).map((value) => params.add(value, type));
    if (listed.length) sql += ` AND (cur.${quote(field)} IS NULL OR cur.${quote(field)} NOT IN (${listed.join(', ')}))`;
  }
  return sql;
}

/** DELETE of the record, only if it is still at `version` when one is given. No row: not found or moved on. */
export function deleteRecordAt(where: { id: string; orgId: string; version?: number | undefined }) {
  return (shape: TableShape, params: StatementParams, guard: string) => {
    const version = where.version === undefined ? '' : ` AND version = ${params.add(where.version, 'integer')}`;
    return `DELETE FROM ${quote(shape.table)} AS rec
      WHERE id = ${params.add(where.id, 'text')} AND "orgId" = ${params.add(where.orgId, 'text')}${version} AND ${guard}
      RETURNING rec.id, rec.version, ${shape.wire('rec')} AS record`;
  };
}
