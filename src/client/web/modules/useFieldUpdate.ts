import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { getQueryKey } from '@trpc/react-query';
import type { ModuleName } from '../../../shared/modules.ts';
import { isCachedRecord } from '../realtime/patch.ts';
import { trpc } from '../trpc.ts';
import { recordApi } from './api.ts';
import { saveField, type FieldBase, type FieldSaveTarget } from './save-field.ts';
import { useOffline } from '../offline/OfflineProvider.tsx';

export { sameValue, type FieldBase, type SaveOutcome } from './save-field.ts';

/**
 * `saveField` over the React Query cache entry of one record and its `update` mutation.
 * The cache is reached by the keys tRPC builds (`getQueryKey`), which take any module:
 * the same keys `utils.<module>.byId.getData/setData/cancel/invalidate` use.
 */
export function useFieldUpdate(module: ModuleName, id: string) {
  const queryClient = useQueryClient();
  const update = recordApi(module).update.useMutation();
  const { queue } = useOffline();
  // Saves in flight, whichever way they go (the queue or the mutation): what `pending` says.
  const [saving, setSaving] = useState(0);
  /** The record as `byId.useQuery` caches it. */
  const cached = getQueryKey(trpc[module].byId, { id }, 'query');
  /** Every query of the record's `byId`, whatever its type. */
  const queries = getQueryKey(trpc[module].byId, { id });
  const target: FieldSaveTarget = {
    read: () => {
      const data = queryClient.getQueryData(cached);
      return isCachedRecord(data) ? data : undefined;
    },
    write: (record) => void queryClient.setQueryData(cached, record),
    cancel: () => queryClient.cancelQueries({ queryKey: queries }),
    invalidate: () => void queryClient.invalidateQueries({ queryKey: queries }),
    // Through the device's queue when there is one: the edit is kept until the server has it.
    update: ({ expectedVersion, patch, fromValue, overridesVersion }) => {
      const [field, value] = Object.entries(patch)[0]!;
      const overrides = overridesVersion === undefined ? {} : { overridesVersion };
      return queue
        ? queue.submit({ module, recordId: id, field, value, fromValue, fromVersion: expectedVersion, ...overrides })
        : update.mutateAsync({ id, expectedVersion, patch, ...overrides });
    },
  };
  return {
    save: async (field: string, value: unknown, from: FieldBase) => {
      setSaving((count) => count + 1);
      try {
        return await saveField(target, field, value, from);
      } finally {
        setSaving((count) => count - 1);
      }
    },
    pending: saving > 0,
  };
}
