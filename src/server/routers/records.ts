import { z } from 'zod';
import type { TrackedEnvelope } from '@trpc/server';
import { onChangeInput, type CrmEvent, type StreamItem } from '../../shared/events.ts';
import { withIdempotencyKey } from '../../shared/mutations.ts';
import { idSchema, modules, type CreateInputOf, type ModuleName, type PatchOf, type RecordOf } from '../../shared/modules.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { createRecord, deleteRecord, getRecord, listRecords, updateRecord, type ListInput } from '../records/service.ts';
import { authedProcedure, router } from '../trpc.ts';

/**
 * One definition of list/byId/create/update/delete/onChange, instantiated for each
 * module in `_app.ts`; the module's zod schemas come from src/shared/modules.ts.
 */
export function createRecordRouter<M extends ModuleName>(name: M) {
  const module = modules[name];
  type Item = RecordOf<M>;
  const byIdInput = z.strictObject({ id: idSchema });
  const updateInput = z.strictObject({
    id: idSchema,
    expectedVersion: z.number().int().positive(),
    patch: module.patch as unknown as z.ZodType<PatchOf<M>, PatchOf<M>>,
    ...withIdempotencyKey,
  });
  const deleteInput = z.strictObject({ id: idSchema, expectedVersion: z.number().int().positive().optional(), ...withIdempotencyKey });
  type CreateInput = CreateInputOf<M> & { idempotencyKey?: string | undefined };
  const createInput = module.createInput.extend(withIdempotencyKey) as unknown as z.ZodType<CreateInput, CreateInput>;

  return router({
    list: authedProcedure.input(module.listInput).query(async ({ ctx, input }) => {
      const page = await listRecords({ deps: ctx, user: ctx.user }, module, input as ListInput);
      return page as { items: Item[]; nextCursor: string | null };
    }),
    byId: authedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
      return (await getRecord({ deps: ctx, user: ctx.user }, module, input.id)) as Item;
    }),
    create: authedProcedure.input(createInput).mutation(async ({ ctx, input }) => {
      const { idempotencyKey, ...values } = input;
      return (await createRecord({ deps: ctx, user: ctx.user, idempotencyKey }, module, values)) as Item;
    }),
    update: authedProcedure.input(updateInput).mutation(async ({ ctx, input }) => {
      const { idempotencyKey, ...change } = input;
      return (await updateRecord({ deps: ctx, user: ctx.user, idempotencyKey }, module, change as never)) as Item;
    }),
    delete: authedProcedure.input(deleteInput).mutation(({ ctx, input }) => {
      const { idempotencyKey, ...target } = input;
      return deleteRecord({ deps: ctx, user: ctx.user, idempotencyKey }, module, target);
    }),
    onChange: authedProcedure.input(onChangeInput).subscription(({ ctx, input, signal }) => {
      return subscribeToLog(ctx, { modules: [name], recordId: input.id }, input, signal) as AsyncGenerator<TrackedEnvelope<StreamItem<Extract<CrmEvent, { module: M }>>>>;
    }),
  });
}
