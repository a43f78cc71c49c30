import { eventType, type CrmEvent, type EventAction } from '../../shared/events.ts';
import type { ModuleName } from '../../shared/modules.ts';
import type { Db, Tx } from '../db/client.ts';

export interface EventDraft {
  orgId: string;
  module: ModuleName;
  action: EventAction;
  recordId: string;
  version: number;
  userId: string;
  data: Record<string, unknown>;
}

interface EventRow extends Omit<EventDraft, "module" | "action" | "data"> {
  seq: number;
  module: string;
  action: string;
  data: unknown;
  createdAt: Date;
}

export function toEvent(row: EventRow): CrmEvent {
  return {
    seq: row.seq,
    type: eventType(row.module as ModuleName, row.action as EventAction),
    module: row.module,
    action: row.action,
    recordId: row.recordId,
    version: row.version,
    data: row.data,
    userId: row.userId,
    orgId: row.orgId,
    timestamp: row.createdAt.toISOString(),
  } as CrmEvent;
}

/**
 * Serializes the org's writers until the transaction ends, so that within an org
 * `seq` order is commit order: a reader that has seen seq N can never later find a
 * smaller seq of the same org committing behind it. Must run before the event row
 * takes its seq.
 */
export async function lockOrgLog(tx: Tx, orgId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${orgId}))`;
}

/** Writes the event row; call inside the transaction that makes the change. */
export async function appendEvent(tx: Tx, draft: EventDraft): Promise<CrmEvent> {
  const row = await tx.event.create({ data: { ...draft, data: draft.data as object } });
  return toEvent(row);
}

export interface ReadEventsOptions {
  orgId: string;
  /** Exclusive. */
  afterSeq: number;
  modules?: readonly ModuleName[];
  recordId?: string;
  limit: number;
}

/** The org's events after `afterSeq`, oldest first. */
export async function readEventsAfter(db: Db | Tx, options: ReadEventsOptions): Promise<CrmEvent[]> {
  const rows = await db.event.findMany({
    where: {
      orgId: options.orgId,
      seq: { gt: options.afterSeq },
      ...(options.modules ? { module: { in: [...options.modules] } } : {}),
      ...(options.recordId ? { recordId: options.recordId } : {}),
    },
    orderBy: { seq: 'asc' },
    take: options.limit,
  });
  return rows.map(toEvent);
}
