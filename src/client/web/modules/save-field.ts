import type { CachedRecord } from '../realtime/patch.ts';
import { QueuedOffline } from '../offline/queue.ts';
import { conflictCurrent } from './api.ts';

export type SaveOutcome =
  | { type: 'saved'; record: CachedRecord }
  /** Someone else changed the same field: `current` is the record now. */
  | { type: 'conflict'; current: CachedRecord; mine: unknown }
  /** Kept on this device until the connection is back (offline/queue.ts): the new value stays shown. */
  | { type: 'queued' }
  | { type: 'error'; error: unknown };

export const sameValue = (a: unknown, b: unknown) => Object.is(a ?? null, b ?? null);

/** The record's cache entry and its update call, as `saveField` needs them. */
export interface FieldSaveTarget {
  read(): CachedRecord | undefined;
  write(record: CachedRecord): void;
  /** Stops a refetch in flight, so it cannot overwrite the optimistic value. */
  cancel(): Promise<void>;
  /** Refetches the record. */
  invalidate(): void;
  update(input: { expectedVersion: number; patch: Record<string, unknown>; fromValue: unknown; overridesVersion?: number | undefined }): Promise<CachedRecord>;
}

/**
 * What an edit started from: the field's value and the record's version then; after a
 * conflict settled for one's own value, the version whose value it knowingly replaces.
 */
export interface FieldBase {
  value: unknown;
  version: number;
  overridesVersion?: number | undefined;
}

/**
 * Saves one field of one record, optimistically:
 * - the new value shows at once (the cached version stays, so the event of our own write still applies);
 * - `expectedVersion` is the version the edit started from, or the current one when only
 *   other fields changed since (live updates moved the page on; the edit is still based on what was seen);
 * - a CONFLICT where the other change left this field alone is retried once on the current
 *   version (both edits survive); a conflict on this field, or an error, rolls back.
 */
export async function saveField(target: FieldSaveTarget, field: string, value: unknown, from: FieldBase): Promise<SaveOutcome> {
  await target.cancel();
  const before = target.read();
  if (!before) return { type: 'error', error: new Error('The record is not loaded') };
  /** Our answer is authoritative unless the cache already holds a later version (an event got there first). */
  const settle = (record: CachedRecord) => {
    const cached = target.read();
    if (!cached || cached.version <= record.version) target.write(record);
  };
  const expectedVersion = sameValue(before[field], from.value) ? before.version : from.version;
  target.write({ ...before, [field]: value });
  const send = (version: number, fromValue: unknown) => target.update({ expectedVersion: version, patch: { [field]: value }, fromValue, overridesVersion: from.overridesVersion });
  try {
    let record: CachedRecord;
    try {
      record = await send(expectedVersion, from.value);
    } catch (error) {
      const current = conflictCurrent(error);
      if (!current || !sameValue(current[field], from.value)) throw error;
      record = await send(current.version, current[field]);
    }
    settle(record);
    return { type: 'saved', record };
  } catch (error) {
    if (error instanceof QueuedOffline) return { type: 'queued' };
    const current = conflictCurrent(error);
    if (current) {
      settle(current);
      return { type: 'conflict', current, mine: value };
    }
    const now = target.read();
    if (now && sameValue(now[field], value)) target.write({ ...now, [field]: before[field] });
    target.invalidate();
    return { type: 'error', error };
  }
}
