import type { AnyModule } from '../../shared/modules.ts';

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
