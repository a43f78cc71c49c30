import { createHash } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { isRecordEvent } from '../../shared/events.ts';
import type { EventBus } from '../bus/types.ts';
import { runsOneTransactionAtATime, type Db, type Tx } from '../db/client.ts';
import type { Metrics } from '../metrics.ts';
import { changeEffects } from './effects.ts';
import { appendEvent, lockOrgLog, type EventDraft, type SequencedEvent } from './log.ts';

export interface ChangeOutcome<T> {
  result: T;
  /** The event of the change; omit when nothing changed. */
  event?: EventDraft;
  /** Further events of the same change (e.g. a message and the alert it raises), in this order. */
  events?: EventDraft[];
}

export interface IdempotencyOptions {
  userId: string;
  key: string;
  /** What was asked: the procedure and its input without the key. */
  request: unknown;
}

/**
 * A mutation's idempotency: with the caller's key, applied once per user and key, and
 * the key tied to what was asked (`scope`, e.g. module and action, and the input without the key).
 */
export function idempotencyOf(caller: { user: { id: string }; idempotencyKey?: string | undefined }, scope: string[], input: unknown): IdempotencyOptions | undefined {
  return caller.idempotencyKey ? { userId: caller.user.id, key: caller.idempotencyKey, request: [...scope, input] } : undefined;
}

/** Runs one org's commits one after another in this process; see `commitChange`. */
const orgQueues = new Map<string, Promise<unknown>>();

/** Runs `task` after the org's commits queued before it in this process (see `commitChange`). */
export function runInOrgQueue<T>(orgId: string, task: () => Promise<T>): Promise<T> {
  const previous = orgQueues.get(orgId) ?? Promise.resolve();
  const next = previous.then(task, task);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  orgQueues.set(orgId, settled);
  void settled.then(() => {
    if (orgQueues.get(orgId) === settled) orgQueues.delete(orgId);
  });
  return next;
}

/**
 * The only way records change: the change and its event row in one transaction,
 * then, after the commit, the event on the bus. An event exists if and only if the
 * change committed, and nothing uncommitted is ever published.
 *
 * One org's commits are queued in this process so that its events reach the bus in
 * `seq` order; subscribers rely on that to skip what they already replayed.
 */
export async function commitChange<T>(
  deps: { db: Db; bus: EventBus; metrics?: Metrics },
  orgId: string,
  change: (tx: Tx) => Promise<ChangeOutcome<T>>,
  idempotency?: IdempotencyOptions,
): Promise<T> {
  // On PGlite the lock would be one more statement (a third of a small commit's CPU) for nothing.
  const lockOrg = !runsOneTransactionAtATime(deps.db);
  return runInOrgQueue(orgId, async () => {
    const { result, events } = await deps.db.$transaction(async (tx) => {
      // The org lock also serializes a user's retries: a key is checked and stored atomically.
      if (lockOrg) await lockOrgLog(tx, orgId);
      const requestHash = idempotency && hashRequest(idempotency.request);
      if (idempotency) {
        const previous = await tx.idempotencyKey.findUnique({ where: { userId_key: { userId: idempotency.userId, key: idempotency.key } } });
        if (previous) return { result: earlierResult<T>(previous, requestHash), events: [] };
      }
      const outcome = await change(tx);
      const events: SequencedEvent[] = [];
      const drafts = [...(outcome.event ? [outcome.event] : []), ...(outcome.events ?? [])];
      // Grows while it runs: alerts a record change raises follow it, in the same transaction.
      for (const draft of drafts) {
        const event = await appendEvent(tx, draft);
        events.push(event);
        const record = outcome.result as Record<string, unknown>;
        // Notifications the change raises commit with it, or not at all.
        const recordEvent = isRecordEvent(event.event) ? event.event : undefined;
        const notes = draft.notifications ?? (recordEvent ? changeEffects().flatMap((effect) => effect.notificationsFor?.(recordEvent, record) ?? []) : []);
        if (notes.length) {
          await tx.notification.createMany({ data: notes.map((note) => ({ ...note, orgId, eventSeq: event.event.seq })) });
        }
        if (recordEvent) for (const effect of changeEffects()) if (effect.eventsFor) drafts.push(...(await effect.eventsFor(tx, recordEvent, record)));
      }
      if (idempotency && requestHash) {
        await tx.idempotencyKey.create({
          data: { userId: idempotency.userId, key: idempotency.key, requestHash, result: outcome.result as object },
        });
      }
      return { result: outcome.result, events };
    });
    publishCommitted(deps, events);
    return result;
  });
}

/** After the commit, in the org's queue: the change's events on the bus, in seq order. */
export function publishCommitted(deps: { bus: EventBus; metrics?: Metrics }, events: readonly SequencedEvent[]): void {
  for (const event of events) {
    deps.bus.publish(event.event, event.prevSeq);
    deps.metrics?.eventsPublished.inc();
  }
}

/** A key used before: that use's result again, or BAD_REQUEST when it was used for another request. */
export function earlierResult<T>(previous: { requestHash: string; result: unknown }, requestHash: string | undefined): T {
  if (previous.requestHash !== requestHash) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'This idempotencyKey was already used for a different request' });
  }
  return previous.result as T;
}

/** What an idempotency key is tied to: see `IdempotencyOptions.request`. */
export function hashRequest(request: unknown): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('base64url');
}
