import type { ModuleName } from '../../../shared/modules.ts';
import type { CachedRecord } from '../realtime/patch.ts';
import type { PendingChange } from './store.ts';

/** The record calls of each module as the queue makes them (the six routers have one shape). */
export type RecordCalls = Record<
  ModuleName,
  {
    update: {
      mutate(input: { id: string; expectedVersion: number; patch: Record<string, unknown>; overridesVersion?: number; idempotencyKey: string }): Promise<CachedRecord>;
    };
    create: { mutate(input: Record<string, unknown> & { idempotencyKey: string }): Promise<CachedRecord> };
    delete: { mutate(input: { id: string; expectedVersion: number; idempotencyKey: string }): Promise<unknown> };
  }
>;

/** A kept change as its module's call, always with the change's own idempotencyKey (a resend is applied once). */
export async function sendChange(calls: RecordCalls, change: PendingChange): Promise<CachedRecord | null> {
  const { module, idempotencyKey } = change;
  switch (change.kind) {
    case 'edit':
      return calls[module].update.mutate({
        id: change.recordId,
        expectedVersion: change.fromVersion,
        patch: { [change.field]: change.value },
        ...(change.overridesVersion === undefined ? {} : { overridesVersion: change.overridesVersion }),
        idempotencyKey,
      });
    case 'create':
      return calls[module].create.mutate({ ...change.values, idempotencyKey });
    case 'delete':
      await calls[module].delete.mutate({ id: change.recordId, expectedVersion: change.fromVersion, idempotencyKey });
      return null;
  }
}
