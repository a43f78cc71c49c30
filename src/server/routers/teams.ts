import type { TrackedEnvelope } from '@trpc/server';
import { streamInput } from '../../shared/comms.ts';
import type { StreamItem } from '../../shared/events.ts';
import { createTeamInput, deleteTeamInput, teamMemberInput, updateTeamInput, type TeamEvent } from '../../shared/teams.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { createTeam, deleteTeam, listTeams, renameTeam, setMembership } from '../teams/service.ts';
import { adminProcedure, authedProcedure, router } from '../trpc.ts';

/** Teams shape who sees whose load and who is told: admins change them, everyone sees them. */
const teamAdminProcedure = adminProcedure('change its teams');

export const teamsRouter = router({
  /** The org's teams by name, with their people. */
  list: authedProcedure.query(({ ctx }) => listTeams(ctx.db, ctx.user.orgId)),
  create: teamAdminProcedure.input(createTeamInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...team } = input;
    return createTeam({ deps: ctx, user: ctx.user, idempotencyKey }, team);
  }),
  /** Renames it. */
  update: teamAdminProcedure.input(updateTeamInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...team } = input;
    return renameTeam({ deps: ctx, user: ctx.user, idempotencyKey }, team);
  }),
  delete: teamAdminProcedure.input(deleteTeamInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...team } = input;
    return deleteTeam({ deps: ctx, user: ctx.user, idempotencyKey }, team);
  }),
  addMember: teamAdminProcedure.input(teamMemberInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...member } = input;
    return setMembership({ deps: ctx, user: ctx.user, idempotencyKey }, member, true);
  }),
  removeMember: teamAdminProcedure.input(teamMemberInput).mutation(({ ctx, input }) => {
    const { idempotencyKey, ...member } = input;
    return setMembership({ deps: ctx, user: ctx.user, idempotencyKey }, member, false);
  }),
  /** `team:created`, `team:updated`, `team:members`, `team:deleted` and `capacity:updated` of the org, resumable. */
  onChange: authedProcedure.input(streamInput).subscription(({ ctx, input, signal }) => {
    return subscribeToLog(ctx, { modules: ['teams'] }, input ?? {}, signal) as AsyncGenerator<TrackedEnvelope<StreamItem<TeamEvent>>>;
  }),
});
