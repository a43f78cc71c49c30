import { TRPCError } from '@trpc/server';
import { modules, type ModuleName } from '../../shared/modules.ts';
import type { ConnectionInfo } from '../context.ts';
import type { Db } from '../db/client.ts';
import { isRecordOfOrg } from '../records/service.ts';

export type PresenceModule = ModuleName | 'conversations';

/** How many record ids a connection remembers as checked (the oldest is forgotten first). */
const CHECKED_PER_CONNECTION = 64;

/**
 * Per connection, the records already found in its user's org. Typing messages come every
 * 2 s per field while someone types: after the first, they cost no query. An id stays
 * remembered after its record is deleted; that lets a viewer leave it, and says nothing
 * about another org (the check is by the user's org, which a connection never changes).
 * A WeakMap: an HTTP request's connection info is dropped with the request.
 */
const checked = new WeakMap<ConnectionInfo, Set<string>>();

/**
 * NOT_FOUND unless the caller's org has this record (or conversation), as `byId` would
 * answer: presence and typing on an id of another org reach nobody, and now say so.
 */
export async function requireRecordOfOrg(ctx: { db: Db; connection: ConnectionInfo; user: { orgId: string } }, module: PresenceModule, recordId: string): Promise<void> {
  const key = `${module}\0${recordId}`;
  let known = checked.get(ctx.connection);
  if (known?.has(key)) return;
  const found =
    module === 'conversations'
      ? (await ctx.db.conversation.findFirst({ where: { id: recordId, orgId: ctx.user.orgId }, select: { id: true } })) !== null
      : await isRecordOfOrg(ctx.db, modules[module], ctx.user.orgId, recordId);
  if (!found) {
    const what = module === 'conversations' ? 'conversation' : modules[module].entity.toLowerCase();
    throw new TRPCError({ code: 'NOT_FOUND', message: `No ${what} with id ${recordId}` });
  }
  if (!known) checked.set(ctx.connection, (known = new Set()));
  if (known.size >= CHECKED_PER_CONNECTION) known.delete(known.values().next().value!);
  known.add(key);
}
