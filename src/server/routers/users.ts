import { createHash, randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  invitationIdInput,
  inviteInput,
  setRoleInput,
  userIdInput,
  usersListInput,
  type PendingInvitation,
  type PublicUser,
  type Role,
  type TeamMember,
} from '../../shared/auth.ts';
import { idSchema } from '../../shared/text.ts';
import type { Context, Session } from '../context.ts';
import { runsOneTransactionAtATime, type Tx } from '../db/client.ts';
import { adminProcedure, authedProcedure, router } from '../trpc.ts';
import { setCapacityInput } from '../../shared/teams.ts';
import { setCapacity } from '../teams/service.ts';

/** How long an invitation link can be used. */
export const INVITATION_TTL_MS = 7 * 24 * 3_600_000;
/** Pending invitations one org may have: what `users.invitations` answers stays bounded. */
export const MAX_PENDING_INVITATIONS = 200;

/** Invitations are kept as the sha256 of their token: a leaked table signs nobody in. */
export function hashInvitationToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const teamAdminProcedure = adminProcedure('manage its team');

/**
 * Changes of roles and activity in one org, one at a time, so that two admins demoting
 * each other at once cannot leave it without one (PGlite runs one transaction at a time anyway).
 */
async function lockTeam(tx: Tx, orgId: string, oneAtATime: boolean) {
  if (!oneAtATime) await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock(hashtext($1))', `team:${orgId}`);
}

/** Pages of people go on after the last one's (name, id), a key rather than an offset: people who join meanwhile shift no page. */
const userCursor = z.tuple([z.string(), idSchema]);
const encodeUserCursor = (user: { name: string; id: string }) => Buffer.from(JSON.stringify([user.name, user.id])).toString('base64url');
function decodeUserCursor(cursor: string): { name: string; id: string } {
  try {
    const [name, id] = userCursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { name, id };
  } catch {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'cursor: Invalid cursor' });
  }
}

type ListedUser = Omit<TeamMember, 'active'> & { active?: boolean; weeklyCapacityHours?: number | null };

export const usersRouter = router({
  /**
   * The people of the caller's org by name, a page at a time (an org has no upper size),
   * to name assignees, viewers and authors of changes. Admins also see `active` (false
   * while deactivated) and `weeklyCapacityHours` (null: the org's default), for the team page.
   */
  list: authedProcedure.input(usersListInput).query(async ({ ctx, input }): Promise<{ items: ListedUser[]; nextCursor: string | null }> => {
    const after = input.cursor ? decodeUserCursor(input.cursor) : null;
    const rows = await ctx.db.user.findMany({
      where: { orgId: ctx.user.orgId, ...(after ? { OR: [{ name: { gt: after.name } }, { name: after.name, id: { gt: after.id } }] } : {}) },
      select: { id: true, name: true, email: true, role: true, deactivatedAt: true, weeklyCapacityHours: true },
      orderBy: [{ name: 'asc' }, { id: 'asc' }],
      take: input.limit + 1,
    });
    const isAdmin = ctx.user.role === 'admin';
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return {
      items: page.map(({ deactivatedAt, weeklyCapacityHours, ...user }) => ({
        ...user,
        role: user.role as Role,
        ...(isAdmin ? { active: deactivatedAt === null, weeklyCapacityHours } : {}),
      })),
      nextCursor: rows.length > input.limit && last ? encodeUserCursor(last) : null,
    };
  }),
  /** A one-time link for `email` to join the org with `role`, valid 7 days. The token is shown once. */
  invite: teamAdminProcedure.input(inviteInput).mutation(async ({ ctx, input }) => {
    if (await ctx.db.user.findUnique({ where: { email: input.email }, select: { id: true } })) {
      throw new TRPCError({ code: 'CONFLICT', message: `${input.email} already has an account` });
    }
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + INVITATION_TTL_MS);
    await ctx.db.$transaction(async (tx) => {
      // A new invitation of the same person replaces the pending one.
      await tx.invitation.updateMany({
        where: { orgId: ctx.user.orgId, email: input.email, acceptedAt: null, revokedAt: null },
        data: { revokedAt: new Date() },
      });
      const pending = await tx.invitation.count({ where: { orgId: ctx.user.orgId, ...stillPending() } });
      if (pending >= MAX_PENDING_INVITATIONS) {
        throw new TRPCError({ code: 'CONFLICT', message: `The org has ${MAX_PENDING_INVITATIONS} pending invitations; revoke some first` });
      }
      await tx.invitation.create({
        data: { orgId: ctx.user.orgId, email: input.email, role: input.role, tokenHash: hashInvitationToken(token), invitedById: ctx.user.id, expiresAt },
      });
    });
    return { inviteUrl: `${ctx.publicUrl ?? ''}/invite/${token}`, token, expiresAt: expiresAt.toISOString() };
  }),
  /** Invitations of the org not yet accepted, revoked or expired, newest first. */
  invitations: teamAdminProcedure.query(async ({ ctx }): Promise<PendingInvitation[]> => {
    const rows = await ctx.db.invitation.findMany({
      where: { orgId: ctx.user.orgId, ...stillPending() },
      orderBy: { createdAt: 'desc' },
      take: MAX_PENDING_INVITATIONS,
    });
    return rows.map((row) => ({
      id: row.id,
      email: row.email,
      role: row.role as Role,
      invitedById: row.invitedById,
      createdAt: row.createdAt.toISOString(),
      expiresAt: row.expiresAt.toISOString(),
    }));
  }),
  /** A pending invitation's link stops working. */
  revokeInvitation: teamAdminProcedure.input(invitationIdInput).mutation(async ({ ctx, input }) => {
    const { count } = await ctx.db.invitation.updateMany({
      where: { id: input.id, orgId: ctx.user.orgId, acceptedAt: null, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No pending invitation with this id' });
    return { id: input.id };
  }),
  /** A new role, in force on every open connection of the user within a second. */
  /** A person's weekly hours for the dashboard's utilization (null: the org's default, `WEEKLY_CAPACITY_HOURS`). */
  setCapacity: teamAdminProcedure.input(setCapacityInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...capacity } = input;
    return setCapacity({ deps: ctx, user: ctx.user, idempotencyKey }, capacity);
  }),
  setRole: teamAdminProcedure.input(setRoleInput).mutation(async ({ ctx, input }) => {
    const user = await changeTeamMember(ctx, input.userId, 'demote', input.role === 'agent', (tx) =>
      tx.user.update({ where: { id: input.userId }, data: { role: input.role }, select: memberSelect }),
    );
    return user;
  }),
  /** The user can no longer sign in; their sessions end on every node. */
  deactivate: teamAdminProcedure.input(userIdInput).mutation(async ({ ctx, input }) => {
    return changeTeamMember(ctx, input.userId, 'deactivate', true, async (tx) => {
      await ctx.sessions.revokeUserSessions(tx, input.userId);
      return tx.user.update({ where: { id: input.userId }, data: { deactivatedAt: new Date() }, select: memberSelect });
    });
  }),
  /** The user can sign in again (their old sessions stay ended). */
  reactivate: teamAdminProcedure.input(userIdInput).mutation(async ({ ctx, input }) => {
    return changeTeamMember(ctx, input.userId, 'reactivate', false, (tx) => tx.user.update({ where: { id: input.userId }, data: { deactivatedAt: null }, select: memberSelect }));
  }),
});

const memberSelect = { id: true, name: true, email: true, role: true, deactivatedAt: true } as const;
type MemberRow = { id: string; name: string; email: string; role: string; deactivatedAt: Date | null };

/**
 * Applies `change` to a user of the caller's org (NOT_FOUND otherwise) under the org's
 * team lock; `removesAdmin`: the change may take an admin away, which the caller may
 * not do to themselves nor to the org's last active admin. Commits, then tells every
 * node (auth/sessions.ts).
 */
async function changeTeamMember(
  ctx: Context & { session: Session; user: PublicUser },
  userId: string,
  action: 'demote' | 'deactivate' | 'reactivate',
  removesAdmin: boolean,
  change: (tx: Tx) => Promise<MemberRow>,
): Promise<TeamMember> {
  const { orgId } = ctx.user;
  if (removesAdmin && userId === ctx.user.id) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: `You cannot ${action} yourself; ask another admin` });
  }
  const row = await ctx.db.$transaction(async (tx) => {
    await lockTeam(tx, orgId, runsOneTransactionAtATime(ctx.db));
    const target = await tx.user.findFirst({ where: { id: userId, orgId }, select: { role: true, deactivatedAt: true } });
    if (!target) throw new TRPCError({ code: 'NOT_FOUND', message: 'No user with this id in your org' });
    if (removesAdmin && target.role === 'admin' && target.deactivatedAt === null) {
      const admins = await tx.user.count({ where: { orgId, role: 'admin', deactivatedAt: null } });
      if (admins <= 1) throw new TRPCError({ code: 'CONFLICT', message: `Cannot ${action} the last admin of the org` });
    }
    return change(tx);
  });
  ctx.sessions.userChanged(userId);
  const { deactivatedAt, ...user } = row;
  return { ...user, role: user.role as Role, active: deactivatedAt === null };
}

/** Not accepted, revoked or expired. */
function stillPending() {
  return { acceptedAt: null, revokedAt: null, expiresAt: { gt: new Date() } };
}
