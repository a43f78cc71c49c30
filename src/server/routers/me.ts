import { tracked, type TrackedEnvelope } from '@trpc/server';
import { isRecordEvent, personalInput, type LogEvent, type PersonalEvent, type StreamItem } from '../../shared/events.ts';
import { subscribeToLog } from '../events/subscribe.ts';
import { newAssigneeOf } from '../notifications/sources.ts';
import { authedProcedure, router } from '../trpc.ts';

/** A job that became this user's: created with them as assignee, or reassigned to them. */
const assignedTo = (userId: string, event: LogEvent) => isRecordEvent(event) && newAssigneeOf(event) === userId;

async function* personalEvents(
  source: AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>>,
  titleOf: (jobId: string) => Promise<string | undefined>,
): AsyncGenerator<TrackedEnvelope<PersonalEvent>> {
  for await (const [id, item] of source) {
    if (item.type === 'RESYNC') {
      yield tracked(id, item);
      continue;
    }
    if (item.module !== 'jobs' || item.action === 'deleted' || item.action === 'restored') continue;
    // An update event carries only what changed; the title is looked up (assignments are rare).
    const title = item.action === 'created' ? item.data.title : (item.data.title?.to ?? (await titleOf(item.recordId)));
    yield tracked(id, {
      type: 'JOB_ASSIGNED',
      seq: item.seq,
      jobId: item.recordId,
      title: title ?? '',
      assigneeId: item.action === 'created' ? item.data.assigneeId! : item.data.assigneeId!.to!,
      assignedById: item.userId,
      timestamp: item.timestamp,
    });
  }
}

export const meRouter = router({
  /**
   * Events addressed to the caller only (so far: jobs assigned to them), read from the
   * org's log with the same resume and guarantees as every other subscription.
   */
  onEvent: authedProcedure.input(personalInput).subscription(({ ctx, input, signal }) => {
    const userId = ctx.user.id;
    const source = subscribeToLog(ctx, { modules: ['jobs'], predicate: (event) => assignedTo(userId, event) }, input ?? {}, signal);
    const titleOf = async (jobId: string) => (await ctx.db.job.findFirst({ where: { id: jobId, orgId: ctx.user.orgId }, select: { title: true } }))?.title;
    return personalEvents(source, titleOf);
  }),
});
