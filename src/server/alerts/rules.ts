import type { AlertKind } from '../../shared/comms.ts';
import type { CrmEvent } from '../../shared/events.ts';
import type { AppDeps } from '../context.ts';
import type { Tx } from '../db/client.ts';
import { commitChange } from '../events/commit.ts';
import type { ChangeEffect } from '../events/effects.ts';
import type { EventDraft } from '../events/log.ts';
import { toAlert } from '../comms/wire.ts';
import { audienceOf } from './audience.ts';

/** An escrow closing this soon while still `opened` or `in_escrow` (not yet `pending`) needs attention. */
export const ESCROW_CLOSING_WINDOW_MS = 3 * 24 * 3_600_000;
const ESCROW_STATUSES_AT_RISK = ['opened', 'in_escrow'];
/** A lead still `new` this long after it came in. */
export const LEAD_CONTACT_WITHIN_MS = 24 * 3_600_000;

interface AlertCandidate {
  orgId: string;
  kind: AlertKind;
  /** One alert per key, ever: the same condition never raises it twice. */
  key: string;
  title: string;
  body: string | null;
  module: string;
  recordId: string;
  /** Whoever looks after the record: its assignee, else its creator. */
  ownerId: string;
  /** The record's assignee (null: unassigned) and team: who else is concerned (see `ALERT_AUDIENCES`). */
  assigneeId: string | null;
  teamId: string | null;
}

const money = (cents: number) => `$${(cents / 100).toLocaleString('en-US', { maximumFractionDigits: 2 })}`;

/** Writes the alert unless its key already exists, and returns its event (with its audience's notifications). */
async function raiseAlert(tx: Tx, candidate: AlertCandidate): Promise<EventDraft | null> {
  const { ownerId: _owner, assigneeId: _assignee, teamId: _team, ...fields } = candidate;
  const existing = await tx.alert.findUnique({ where: { orgId_key: { orgId: candidate.orgId, key: candidate.key } }, select: { id: true } });
  if (existing) return null;
  const alert = toAlert(await tx.alert.create({ data: fields }));
  const notified = await audienceOf(tx, candidate);
  return {
    orgId: candidate.orgId,
    module: 'alerts',
    action: 'alert:new',
    recordId: alert.id,
    version: 1,
    userId: null,
    data: { alert, notifiedUserIds: notified },
    notifications: notified.map((userId) => ({ userId, kind: 'alert' as const, title: alert.title, body: alert.body, module: candidate.module, recordId: candidate.recordId })),
  };
}

interface EscrowLike {
  id: string;
  orgId: string;
  status: string;
  closingDate: string | Date | null;
  propertyAddress: string;
  createdById: string;
  teamId: string | null;
}

/**
 * Effects get the record after a change as a plain record: checked here, not assumed, that
 * it has what the rule reads (an escrow's always does).
 */
function isEscrowLike(record: Record<string, unknown>): record is Record<string, unknown> & EscrowLike {
  const { id, orgId, status, closingDate, propertyAddress, createdById, teamId } = record;
  const isText = (value: unknown) => typeof value === 'string';
  return (
    isText(id) &&
    isText(orgId) &&
    isText(status) &&
    isText(propertyAddress) &&
    isText(createdById) &&
    (teamId === null || teamId === undefined || isText(teamId)) &&
    (closingDate === null || typeof closingDate === 'string' || closingDate instanceof Date)
  );
}

function escrowClosingAlert(escrow: EscrowLike, now: Date): AlertCandidate | null {
  if (!escrow.closingDate || !ESCROW_STATUSES_AT_RISK.includes(escrow.status)) return null;
  const closing = new Date(escrow.closingDate);
  const left = closing.getTime() - now.getTime();
  if (left < 0 || left > ESCROW_CLOSING_WINDOW_MS) return null;
  return {
    orgId: escrow.orgId,
    kind: 'escrow_closing',
    key: `escrow_closing:${escrow.id}:${closing.toISOString()}`,
    title: `Escrow closing ${closing.toISOString().slice(0, 10)} is still ${escrow.status.replace('_', ' ')}: ${escrow.propertyAddress}`,
    body: null,
    module: 'escrows',
    recordId: escrow.id,
    ownerId: escrow.createdById,
    assigneeId: null,
    teamId: escrow.teamId ?? null,
  };
}

/** Whether a change of this module and action can raise an alert at all (the rules of `alertsFor`). */
export function alertsMayFollow(module: string, action: string): boolean {
  return (module === 'listings' && action === 'updated') || (module === 'escrows' && action !== 'deleted');
}

/**
 * The alerts a record change raises, written in the change's own transaction: a
 * listing's price lowered, an escrow set to close within 3 days while not pending.
 * Conditions that time alone makes true are found by `sweepAlerts`.
 */
export async function alertsFor(tx: Tx, event: CrmEvent, record: Record<string, unknown>, now = new Date()): Promise<EventDraft[]> {
  if (!alertsMayFollow(event.module, event.action)) return [];
  let candidate: AlertCandidate | null = null;
  if (event.module === 'listings' && event.action === 'updated') {
    const price = event.data.listPriceCents;
    if (price && price.from != null && price.to != null && price.to < price.from) {
      candidate = {
        orgId: event.orgId,
        kind: 'listing_price_drop',
        key: `listing_price_drop:${event.recordId}:${event.version}`,
        title: `Price drop: ${String(record.address)} ${money(price.from)} → ${money(price.to)}`,
        body: null,
        module: 'listings',
        recordId: event.recordId,
        ownerId: String(record.createdById),
        assigneeId: null,
        teamId: typeof record.teamId === 'string' ? record.teamId : null,
      };
    }
  } else if (event.module === 'escrows' && event.action !== 'deleted' && isEscrowLike(record)) {
    candidate = escrowClosingAlert(record, now);
  }
  const draft = candidate && (await raiseAlert(tx, candidate));
  return draft ? [draft] : [];
}

/** Raises the alerts that time made due (escrows entering their last 3 days, leads left uncontacted), each once. */
export async function sweepAlerts(deps: Pick<AppDeps, 'db' | 'bus' | 'metrics'>, now: Date): Promise<number> {
  const escrows = await deps.db.escrow.findMany({
    where: { status: { in: ESCROW_STATUSES_AT_RISK }, closingDate: { gte: now, lte: new Date(now.getTime() + ESCROW_CLOSING_WINDOW_MS) } },
    select: { id: true, orgId: true, status: true, closingDate: true, propertyAddress: true, createdById: true, teamId: true },
    take: 500,
  });
  const leads = await deps.db.lead.findMany({
    where: { status: 'new', createdAt: { lte: new Date(now.getTime() - LEAD_CONTACT_WITHIN_MS) } },
    select: { id: true, orgId: true, name: true, source: true, assigneeId: true, createdById: true, teamId: true },
    take: 500,
  });
  const candidates: AlertCandidate[] = [
    ...escrows.map((escrow) => escrowClosingAlert(escrow, now)).filter((candidate) => candidate !== null),
    ...leads.map((lead) => ({
      orgId: lead.orgId,
      kind: 'lead_uncontacted' as const,
      key: `lead_uncontacted:${lead.id}`,
      title: `Lead not contacted within 24 h: ${lead.name}`,
      body: lead.source ? `Source: ${lead.source}` : null,
      module: 'leads',
      recordId: lead.id,
      ownerId: lead.assigneeId ?? lead.createdById,
      assigneeId: lead.assigneeId,
      teamId: lead.teamId,
    })),
  ];
  if (!candidates.length) return 0;
  const raised = new Set(
    (await deps.db.alert.findMany({ where: { key: { in: candidates.map((candidate) => candidate.key) } }, select: { orgId: true, key: true } })).map(
      (row) => `${row.orgId}\u0000${row.key}`,
    ),
  );
  let count = 0;
  for (const candidate of candidates) {
    if (raised.has(`${candidate.orgId}\u0000${candidate.key}`)) continue;
    // Checked again under the org's lock: another node may have raised it meanwhile.
    const created = await commitChange(deps, candidate.orgId, async (tx) => {
      const event = await raiseAlert(tx, candidate);
      return event ? { result: true, event } : { result: false };
    });
    if (created) count++;
  }
  return count;
}

/** Alerts raised by record changes, in the change's own transaction (registered at start: events/effects.ts). */
export const alertEffect: ChangeEffect = {
  mayFollow: (module, action) => alertsMayFollow(module, action),
  eventsFor: (tx, event, record) => alertsFor(tx, event, record),
};
