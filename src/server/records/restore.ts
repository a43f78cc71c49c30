import { TRPCError } from '@trpc/server';
import type { DeletedRecord } from '../../shared/history.ts';
import type { AnyModule } from '../../shared/modules.ts';
import type { Db } from '../db/client.ts';
import { commitChange } from '../events/commit.ts';
import { idempotencyOf } from '../events/idempotency.ts';
import { type Actor, checkRefs, delegateOf, notFound, recordEvent } from './service.ts';
import { toDbData, toWire, type WireRecord } from './wire.ts';

/**
 * Deleted records, found through their `deleted` event: it carries the record as it was,
 * and is kept with the records' history (`HISTORY_RETENTION_DAYS`).
 */

interface DeletedRow {
  seq: number;
  recordId: string;
  userId: string | null;
  data: WireRecord;
  createdAt: Date;
}

/** The module's records deleted and not restored since, newest deletion first; `nextCursor` pages on. */
export async function listDeleted(
  db: Db,
  orgId: string,
  module: AnyModule,
  input: { cursor?: number | undefined; limit: number },
): Promise<{ items: DeletedRecord[]; nextCursor: number | null }> {
  const rows = await db.$queryRawUnsafe<DeletedRow[]>(
    `SELECT e.seq, e."recordId", e."userId", e.data, e."createdAt" FROM "Event" e
     WHERE e."orgId" = $1 AND e.module = $2 AND e.action = 'deleted' AND ($3::integer IS NULL OR e.seq < $3)
       AND NOT EXISTS (SELECT 1 FROM "Event" later WHERE later."orgId" = e."orgId" AND later."recordId" = e."recordId" AND later.seq > e.seq)
     ORDER BY e.seq DESC LIMIT $4`,
    orgId,
    module.name,
    input.cursor ?? null,
    input.limit + 1,
  );
  const page = rows.slice(0, input.limit);
  return {
    items: page.map((row) => ({ id: row.recordId, deletedAt: row.createdAt.toISOString(), deletedById: row.userId, record: row.data })),
    nextCursor: rows.length > input.limit ? Number(page.at(-1)!.seq) : null,
  };
}

/**
 * Brings a deleted record back as it was when deleted, under its own id, with a version
 * after its deletion's: a `restored` event (carrying the record, as `created` does) in the
 * same transaction, under the org's log lock like any change. A reference to a record
 * deleted meanwhile refuses it (restore that one first).
 */
export async function restoreRecord(actor: Actor, module: AnyModule, input: { id: string }): Promise<WireRecord> {
  const { deps, user } = actor;
  return commitChange(
    deps,
    user.orgId,
    async (tx) => {
      const last = await tx.event.findFirst({
        where: { orgId: user.orgId, module: module.name, recordId: input.id },
        orderBy: { seq: 'desc' },
        select: { action: true, version: true, data: true },
      });
      if (!last) throw notFound(module, input.id);
      if (last.action !== 'deleted') throw new TRPCError({ code: 'CONFLICT', message: `This ${module.entity.toLowerCase()} is not deleted` });
      const was = last.data as WireRecord;
      const values = Object.fromEntries(module.fieldNames.map((field) => [field, was[field as string] ?? null]));
      await checkRefs(tx, module, user.orgId, values);
      const row = await delegateOf(tx, module).create({
        data: {
          ...toDbData(module, values),
          id: input.id,
          orgId: user.orgId,
          version: last.version + 1,
          createdAt: new Date(String(was.createdAt)),
          createdById: was.createdById ?? user.id,
          updatedById: user.id,
        },
      });
      const record = toWire(row);
      return { result: record, event: recordEvent(module, user, 'restored', record) };
    },
    { idempotency: idempotencyOf(actor, [module.name, 'restore'], input) },
  );
}
