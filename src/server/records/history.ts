import { TRPCError } from '@trpc/server';
import { HISTORY_HIDDEN_FIELDS, type HistoryAction, type HistoryItem, type HistoryPage } from '../../shared/history.ts';
import type { AnyModule } from '../../shared/modules.ts';
import type { Db } from '../db/client.ts';
import { isRecordOfOrg } from './service.ts';

interface EventRow {
  seq: number;
  version: number;
  action: string;
  userId: string | null;
  data: unknown;
  createdAt: Date;
  mergedFromVersion: number | null;
  overridesVersion: number | null;
}

/**
 * A record's history, newest first, from its events (kept `HISTORY_RETENTION_DAYS`).
 * NOT_FOUND when the org has neither the record nor any event of it: another org's id
 * answers as a missing one does.
 */
export async function recordHistory(db: Db, orgId: string, module: AnyModule, input: { id: string; cursor?: number | undefined; limit: number }): Promise<HistoryPage> {
  const rows: EventRow[] = await db.event.findMany({
    where: { orgId, module: module.name, recordId: input.id, ...(input.cursor ? { seq: { lt: input.cursor } } : {}) },
    orderBy: { seq: 'desc' },
    take: input.limit + 1,
    select: { seq: true, version: true, action: true, userId: true, data: true, createdAt: true, mergedFromVersion: true, overridesVersion: true },
  });
  if (rows.length === 0 && !input.cursor) {
    if (!(await isRecordOfOrg(db, module, orgId, input.id))) throw new TRPCError({ code: 'NOT_FOUND', message: `No ${module.entity.toLowerCase()} with id ${input.id}` });
  }
  const page = rows.slice(0, input.limit);
  return { items: page.map(historyItem), nextCursor: rows.length > input.limit ? (page.at(-1)?.seq ?? null) : null };
}

export function historyItem(row: EventRow): HistoryItem {
  const action = row.action as HistoryAction;
  const data = (row.data ?? {}) as Record<string, unknown>;
  const changes: HistoryItem['changes'] = {};
  if (action === 'updated') {
    for (const [field, change] of Object.entries(data)) {
      if (!HISTORY_HIDDEN_FIELDS.has(field)) changes[field] = change as { from: unknown; to: unknown };
    }
  } else if (action !== 'deleted') {
    for (const [field, value] of Object.entries(data)) {
      if (!HISTORY_HIDDEN_FIELDS.has(field) && value !== null && value !== '') changes[field] = { from: null, to: value };
    }
  }
  return {
    seq: row.seq,
    version: row.version,
    action,
    userId: row.userId,
    timestamp: timestampOf(action, data) ?? row.createdAt.toISOString(),
    changes,
    mergedFromVersion: row.mergedFromVersion,
    overridesVersion: row.overridesVersion,
  };
}

/** When the record says it changed (its `updatedAt`), which the page shows beside it; the event's own time otherwise. */
function timestampOf(action: HistoryAction, data: Record<string, unknown>): string | undefined {
  const at = action === 'updated' ? (data.updatedAt as { to?: unknown } | undefined)?.to : action === 'deleted' ? undefined : data.updatedAt;
  return typeof at === 'string' ? at : undefined;
}
