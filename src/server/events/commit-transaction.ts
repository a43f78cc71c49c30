import { isRecordEvent } from '../../shared/events.ts';
import { runsOneTransactionAtATime, type Db, type Tx } from '../db/client.ts';
import { changeEffects } from './effects.ts';
import { findEarlierResult, hashRequest, keepKey, type IdempotencyOptions } from './idempotency.ts';
import { appendEvent, lockOrgLog, type EventDraft, type SequencedEvent } from './log.ts';
import { appendRecordEvent, type RecordEventDraft } from './record-event.ts';

export interface ChangeOutcome<T> {
  result: T;
  /** The event of the change; omit when nothing changed. A record change's is a `RecordEventDraft` (the same event the one-statement strategy writes). */
  event?: EventDraft | RecordEventDraft;
  /** Further events of the same change (e.g. a message and the alert it raises), in this order. */
  events?: EventDraft[];
}

const isRecordEventDraft = (draft: EventDraft | RecordEventDraft): draft is RecordEventDraft => 'record' in draft;

/**
 * The general strategy of `commitChange`: any change, in a Prisma interactive
 * transaction under the org's log lock, with the events, notifications and alerts it
 * raises and the idempotency key.
 */
export async function commitInTransaction<T>(
  db: Db,
  orgId: string,
  change: (tx: Tx) => Promise<ChangeOutcome<T>>,
  idempotency: IdempotencyOptions | undefined,
): Promise<{ result: T; events: SequencedEvent[] }> {
  // On PGlite the lock would be one more statement (a third of a small commit's CPU) for nothing.
  const lockOrg = !runsOneTransactionAtATime(db);
  return db.$transaction(async (tx) => {
    // The org lock also serializes a user's retries: a key is checked and stored atomically.
    if (lockOrg) await lockOrgLog(tx, orgId);
    const requestHash = idempotency && hashRequest(idempotency.request);
    if (idempotency && requestHash) {
      const earlier = await findEarlierResult<T>(tx, idempotency, requestHash);
      if (earlier) return { result: earlier.result, events: [] };
    }
    const outcome = await change(tx);
    const events: SequencedEvent[] = [];
    const drafts = [...(outcome.event ? [outcome.event] : []), ...(outcome.events ?? [])];
    // Grows while it runs: alerts a record change raises follow it, in the same transaction.
    for (const draft of drafts) {
      const event = isRecordEventDraft(draft) ? await appendRecordEvent(tx, draft) : await appendEvent(tx, draft);
      events.push(event);
      const record = outcome.result as Record<string, unknown>;
      // Notifications the change raises commit with it, or not at all.
      const recordEvent = isRecordEvent(event.event) ? event.event : undefined;
      const given = isRecordEventDraft(draft) ? undefined : draft.notifications;
      const notes = given ?? (recordEvent ? changeEffects().flatMap((effect) => effect.notificationsFor?.(recordEvent, record) ?? []) : []);
      if (notes.length) {
        await tx.notification.createMany({ data: notes.map((note) => ({ ...note, orgId, eventSeq: event.event.seq })) });
      }
      if (recordEvent) for (const effect of changeEffects()) if (effect.eventsFor) drafts.push(...(await effect.eventsFor(tx, recordEvent, record)));
    }
    if (idempotency && requestHash) await keepKey(tx, idempotency, requestHash, outcome.result);
    return { result: outcome.result, events };
  });
}
