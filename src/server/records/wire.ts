import type { AnyModule, ModuleRecord } from '../../shared/modules.ts';

export type Row = Record<string, unknown> & { id: string; orgId: string; version: number; createdAt: Date };
export type WireRecord = Record<string, unknown> & { id: string; version: number };

/** Database row → the record as the API returns it: ISO dates, money as a number of cents. */
export function toWire(row: Row): WireRecord {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    out[key] = value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? Number(value) : value;
  }
  return out as WireRecord;
}

/**
 * A wire record as its module's record type. The row came from the module's own Prisma
 * model (records/service.ts `delegates`), whose columns prisma/schema.prisma keeps equal to
 * the module's fields, but TypeScript cannot relate a generic module's Prisma row to its zod
 * output (enum fields are `string` columns): the one place where that is asserted rather than
 * inferred. tests/types.test.ts and the records tests hold it to the definition.
 */
export function recordOf<D extends AnyModule>(_module: D, record: WireRecord): ModuleRecord<D> {
  return record as ModuleRecord<D>;
}

/** Canonical wire form of input values, so that equal instants compare equal whatever their offset. */
export function normalizeInput(module: AnyModule, input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  for (const field of module.dateFields) {
    const value = out[field];
    if (typeof value === 'string') out[field] = new Date(value).toISOString();
  }
  return out;
}

/** Wire values → what Prisma expects for the columns. */
export function toDbData(module: AnyModule, input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  for (const field of module.dateFields) {
    const value = out[field];
    if (typeof value === 'string') out[field] = new Date(value);
  }
  for (const field of module.bigIntFields) {
    const value = out[field];
    if (typeof value === 'number') out[field] = BigInt(value);
  }
  return out;
}
