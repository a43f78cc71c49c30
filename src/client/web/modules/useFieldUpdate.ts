import type { ModuleName } from '../../../shared/modules.ts';
import { trpc } from '../trpc.ts';
import type { CachedRecord } from '../realtime/patch.ts';
import { asRecord, conflictCurrent, recordApi } from './api.ts';

export type SaveOutcome =
  | { type: 'saved'; record: CachedRecord }
  /** Someone else changed the same field: `current` is the record now. */
  | { type: 'conflict'; current: CachedRecord; mine: unknown }
  | { type: 'error'; error: unknown };

export const sameValue = (a: unknown, b: unknown) => Object.is(a ?? null, b ?? null);

type Utils = ReturnType<typeof trpc.useUtils>['jobs'];

/**
 * Saves one field of one record, optimistically:
 * - the new value shows at once (the cached version stays, so the event of our own write still applies);
 * - `expectedVersion` is the version the edit started from, or the current one when only
 *   other fields changed since (live updates moved the page on; the edit is still based on what was seen);
 * - a CONFLICT where the other change left this field alone is retried once on the current
 *   version (both edits survive); a conflict on this field, or an error, rolls back.
 */
export function useFieldUpdate(module: ModuleName, id: string) {
  const utils = (trpc.useUtils() as unknown as Record<ModuleName, Utils>)[module];
  const update = recordApi(module).update.useMutation();

  const read = () => utils.byId.getData({ id }) as CachedRecord | undefined;
  const write = (record: CachedRecord) => utils.byId.setData({ id }, record as never);
  /** Our answer is authoritative unless the cache already holds a later version (an event got there first). */
  const settle = (record: CachedRecord) => {
    const cached = read();
    if (!cached || cached.version <= record.version) write(record);
  };

  async function save(field: string, value: unknown, from: { value: unknown; version: number }): Promise<SaveOutcome> {
    await utils.byId.cancel({ id });
    const before = read();
    if (!before) return { type: 'error', error: new Error('The record is not loaded') };
    const expectedVersion = sameValue(before[field], from.value) ? before.version : from.version;
    write({ ...before, [field]: value });
    const send = (version: number) =>
      update.mutateAsync({ id, expectedVersion: version, patch: { [field]: value } as never }).then(asRecord);
    try {
      let record: CachedRecord;
      try {
        record = await send(expectedVersion);
      } catch (error) {
        const current = conflictCurrent(error);
        if (!current || !sameValue(current[field], from.value)) throw error;
        record = await send(current.version);
      }
      settle(record);
      return { type: 'saved', record };
    } catch (error) {
      const current = conflictCurrent(error);
      if (current) {
        settle(current);
        return { type: 'conflict', current, mine: value };
      }
      const now = read();
      if (now && sameValue(now[field], value)) write({ ...now, [field]: before[field] });
      void utils.byId.invalidate({ id });
      return { type: 'error', error };
    }
  }

  return { save, pending: update.isPending };
}
