import { z } from 'zod';
import type { TrackedEnvelope } from '@trpc/server';
import { onChangeInput, type CrmEvent, type StreamItem } from '../../shared/events.ts';
import { withIdempotencyKey } from '../../shared/mutations.ts';
import { idSchema, modules, type AnyModule, type ModuleName, type ModulePatch, type ModuleRecord } from '../../shared/modules.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { type DeletedRecord, deletedInput, historyInput, restoreInput } from '../../shared/history.ts';
import { recordHistory } from '../records/history.ts';
import { listDeleted, restoreRecord } from '../records/restore.ts';
import { createRecord, deleteRecord, getRecord, listRecords, updateRecord, type UpdateInput } from '../records/service.ts';
import { adminProcedure, authedProcedure, router } from '../trpc.ts';

/**
 * `input` as parsed by `schema`: the one place where this router states a type. tRPC
 * types a resolver's `input` as a conditional type on its parser, which TypeScript leaves
 * unresolved while the parser depends on the module type parameter `D`; and zod cannot
 * compute an object's output while a field's schema is `D['patch']` (whether the field is
 * optional is unknown), so `update` names its output type itself.
 */
function parsedBy<S, Output = z.output<S>>(_schema: S, input: unknown): Output {
  return input as Output;
}

/**
 * One definition of list/byId/create/update/delete/onChange, instantiated for each
 * module in `_app.ts`; the module's zod schemas come from src/shared/modules.ts.
 */
export function createRecordRouter<M extends ModuleName>(name: M) {
  return recordRouterOf(modules[name]);
}

type IdempotencyKey = { idempotencyKey?: string | undefined };

/**
 * Generic over the definition itself. Its schemas are read through `Pick<D, …>`, which
 * keeps them typed as `D['patch']` & co.; `module.patch` would be typed by the constraint
 * (the union of the six modules' patches), and the client would see that union.
 */
function recordRouterOf<D extends AnyModule>(module: D) {
  const { listInput, createInput: createFields, createMutationInput: createInput, patch }: Pick<D, 'listInput' | 'createInput' | 'createMutationInput' | 'patch'> = module;
  type ModuleEvent = Extract<CrmEvent, { module: D['name'] }>;
  const byIdInput = z.strictObject({ id: idSchema });
  const updateInput = z.strictObject({
    id: idSchema,
    expectedVersion: z.number().int().positive(),
    patch,
    /** After a CONFLICT, "use my value": the version of the colleague's change this edit knowingly replaces; the history says so. */
    overridesVersion: z.number().int().positive().optional(),
    ...withIdempotencyKey,
  });
  const deleteInput = z.strictObject({ id: idSchema, expectedVersion: z.number().int().positive().optional(), ...withIdempotencyKey });

  return router({
    list: authedProcedure.input(listInput).query(({ ctx, input }) => {
      return listRecords({ deps: ctx, user: ctx.user }, module, parsedBy(listInput, input));
    }),
    byId: authedProcedure.input(byIdInput).query(({ ctx, input }) => {
      return getRecord({ deps: ctx, user: ctx.user }, module, input.id);
    }),
    /** Admins: records deleted and not restored, newest deletion first, each as it was. */
    deleted: adminProcedure('see deleted records')
      .input(deletedInput)
      .query(async ({ ctx, input }) => {
        const page = await listDeleted(ctx.db, ctx.user.orgId, module, input);
        return page as { items: DeletedRecord<ModuleRecord<D>>[]; nextCursor: number | null };
      }),
    /** Admins: a deleted record back, as it was (a `restored` event). */
    restore: adminProcedure('restore deleted records')
      .input(restoreInput)
      .mutation(async ({ ctx, input }) => {
        const { idempotencyKey, ...target } = input;
        return (await restoreRecord({ deps: ctx, user: ctx.user, idempotencyKey }, module, target)) as ModuleRecord<D>;
      }),
    /** Who changed which field from what to what, and when, newest first (shared/history.ts). */
    history: authedProcedure.input(historyInput).query(({ ctx, input }) => {
      return recordHistory(ctx.db, ctx.user.orgId, module, input);
    }),
    create: authedProcedure.input(createInput).mutation(({ ctx, input }) => {
      const { idempotencyKey, ...values } = input;
      return createRecord({ deps: ctx, user: ctx.user, idempotencyKey }, module, parsedBy(createFields, values));
    }),
    update: authedProcedure.input(updateInput).mutation(({ ctx, input }) => {
      const { idempotencyKey, ...change } = parsedBy<typeof updateInput, UpdateInput<ModulePatch<D>> & IdempotencyKey>(updateInput, input);
      return updateRecord({ deps: ctx, user: ctx.user, idempotencyKey }, module, change);
    }),
    delete: authedProcedure.input(deleteInput).mutation(({ ctx, input }) => {
      const { idempotencyKey, ...target } = input;
      return deleteRecord({ deps: ctx, user: ctx.user, idempotencyKey }, module, target);
    }),
    onChange: authedProcedure.input(onChangeInput).subscription(({ ctx, input, signal }) => {
      return subscribeToLog(ctx, { modules: [module.name], recordId: input.id }, input, signal) as AsyncGenerator<TrackedEnvelope<StreamItem<ModuleEvent>>>;
    }),
  });
}

/** Any module's record router, its inputs and records the union over the six modules: what code written for any module (the web app's generic pages) calls. */
export type AnyRecordRouter = ReturnType<typeof recordRouterOf<AnyModule>>;
