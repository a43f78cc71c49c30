import type { ModuleName } from '../../../shared/modules.ts';
import type { CachedRecord } from '../realtime/patch.ts';
import { trpc } from '../trpc.ts';
import { asRecord, recordApi } from './api.ts';
import { saveField, type FieldSaveTarget } from './save-field.ts';

export { sameValue, type SaveOutcome } from './save-field.ts';

type Utils = ReturnType<typeof trpc.useUtils>['jobs'];

/** `saveField` over the React Query cache entry of one record and its `update` mutation. */
export function useFieldUpdate(module: ModuleName, id: string) {
  const utils = (trpc.useUtils() as unknown as Record<ModuleName, Utils>)[module];
  const update = recordApi(module).update.useMutation();
  const target: FieldSaveTarget = {
    read: () => utils.byId.getData({ id }) as CachedRecord | undefined,
    write: (record) => void utils.byId.setData({ id }, record as never),
    cancel: () => utils.byId.cancel({ id }),
    invalidate: () => void utils.byId.invalidate({ id }),
    update: ({ expectedVersion, patch }) => update.mutateAsync({ id, expectedVersion, patch: patch as never }).then(asRecord),
  };
  return {
    save: (field: string, value: unknown, from: { value: unknown; version: number }) => saveField(target, field, value, from),
    pending: update.isPending,
  };
}
