import { TRPCError } from '@trpc/server';
import type { Call, CallEvent, CommsDataOf } from '../../shared/comms.ts';
import type { Tx } from '../db/client.ts';
import { commitChange } from '../events/commit.ts';
import { idempotencyOf } from '../events/idempotency.ts';
import { VersionConflict } from '../errors.ts';
import type { EventDraft } from '../events/log.ts';
import type { Actor } from './conversations.ts';
import { findContact } from './phone.ts';
import { toCall } from './wire.ts';

type Deps = Actor['deps'];

/** `data` is also a plain record, as the log stores it (an event's data is a literal object). */
function callEvent<T extends CallEvent['type']>(type: T, call: Call, userId: string | null, data: CommsDataOf<T> & Record<string, unknown>): EventDraft {
  return { orgId: call.orgId, module: 'calls', action: type, recordId: call.id, version: call.version, userId, data };
}

export interface IncomingCall {
  orgId: string;
  callSid: string;
  from: string;
  to: string;
  /** Not answered within this: missed. */
  ringTimeoutMs: number;
}

/** A call ringing for the org; the same `CallSid` twice is one call. */
export async function receiveIncomingCall(deps: Deps, incoming: IncomingCall): Promise<{ duplicate: boolean; call: Call }> {
  return commitChange<{ duplicate: boolean; call: Call }>(deps, incoming.orgId, async (tx) => {
    const existing = await tx.call.findUnique({ where: { orgId_callSid: { orgId: incoming.orgId, callSid: incoming.callSid } } });
    if (existing) return { result: { duplicate: true, call: toCall(existing) } };
    const contact = await findContact(tx, incoming.orgId, incoming.from);
    const call = toCall(
      await tx.call.create({
        data: {
          orgId: incoming.orgId,
          callSid: incoming.callSid,
          fromNumber: incoming.from,
          toNumber: incoming.to,
          clientId: contact.clientId,
          ringUntil: new Date(Date.now() + incoming.ringTimeoutMs),
        },
      }),
    );
    return { result: { duplicate: false, call }, event: callEvent('call.incoming', call, null, { call }) };
  });
}

async function findCall(tx: Tx, orgId: string, id: string) {
  const row = await tx.call.findFirst({ where: { id, orgId } });
  if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `No call with id ${id}` });
  return row;
}

/** The caller takes the call: only one agent can, and only while it rings. */
export async function answerCall(actor: Actor, input: { id: string }): Promise<Call> {
  const { user } = actor;
  return commitChange(
    actor.deps,
    user.orgId,
    async (tx) => {
      const current = await findCall(tx, user.orgId, input.id);
      if (current.status === 'answered' && current.answeredById === user.id) return { result: toCall(current) };
      if (current.status !== 'ringing') {
        throw new TRPCError({
          code: 'CONFLICT',
          message: current.status === 'answered' ? 'Someone else answered this call' : 'This call was missed',
          // `error.data.current`: the call as it is, with who answered it.
          cause: new VersionConflict(toCall(current)),
        });
      }
      const call = toCall(
        await tx.call.update({
          where: { id: current.id },
          data: { status: 'answered', answeredById: user.id, answeredAt: new Date(), version: { increment: 1 } },
        }),
      );
      return { result: call, event: callEvent('call.answered', call, user.id, { call }) };
    },
    { idempotency: idempotencyOf(actor, ['calls', 'answer'], input) },
  );
}

/**
 * Marks a call missed once its ring time is over and nobody answered, and notifies
 * the org's people. Checked under the org's lock: answered meanwhile, or already
 * marked by another node, it changes nothing.
 */
export async function markCallMissed(deps: Deps, orgId: string, callId: string, now: Date): Promise<boolean> {
  return commitChange(deps, orgId, async (tx) => {
    const current = await tx.call.findFirst({ where: { id: callId, orgId } });
    if (current?.status !== 'ringing' || current.ringUntil > now) return { result: false };
    const call = toCall(await tx.call.update({ where: { id: current.id }, data: { status: 'missed', version: { increment: 1 } } }));
    const people = await tx.user.findMany({ where: { orgId }, select: { id: true } });
    const notifiedUserIds = people.map((person) => person.id);
    const contact = await findContact(tx, orgId, call.fromNumber);
    const event = callEvent('call.missed', call, null, { call, notifiedUserIds });
    event.notifications = notifiedUserIds.map((userId) => ({
      userId,
      kind: 'call_missed' as const,
      title: `Missed call from ${contact.name ?? call.fromNumber}`,
      body: contact.name ? call.fromNumber : null,
      module: 'calls',
      recordId: call.id,
    }));
    return { result: true, event };
  });
}

/** Calls still ringing past their time, oldest first, across orgs: what the scheduler marks missed. */
export async function dueMissedCalls(deps: Deps, now: Date, limit = 100) {
  return deps.db.call.findMany({
    where: { status: 'ringing', ringUntil: { lte: now } },
    select: { id: true, orgId: true },
    orderBy: { ringUntil: 'asc' },
    take: limit,
  });
}

/** When the next ringing call runs out, if any. */
export async function nextRingDeadline(deps: Deps): Promise<Date | null> {
  const next = await deps.db.call.findFirst({ where: { status: 'ringing' }, orderBy: { ringUntil: 'asc' }, select: { ringUntil: true } });
  return next?.ringUntil ?? null;
}
