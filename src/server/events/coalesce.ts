import { tracked, type TrackedEnvelope } from '@trpc/server';
import type { CrmEvent, LogEvent, StreamItem } from '../../shared/events.ts';

type Update = Extract<CrmEvent, { action: 'updated' }>;
type Changes = Record<string, { from: unknown; to: unknown }>;

function mergeUpdates(earlier: Update, later: Update): Update {
  const data: Changes = { ...(earlier.data as Changes) };
  for (const [field, change] of Object.entries(later.data as Changes)) {
    data[field] = { from: data[field] ? data[field].from : change.from, to: change.to };
  }
  // Said of one edit, not of a burst.
  const { mergedFromVersion: _merged, overridesVersion: _overrides, ...rest } = later;
  return { ...rest, data } as Update;
}

/**
 * Bursts of updates to one record within `windowMs` become one event: the merged
 * changed fields (first `from`, last `to`) with the last version and seq. Anything
 * else (a create, a delete, a RESYNC) first flushes what is pending, so every
 * record's events stay in order and tracked ids only grow.
 */
export async function* coalesceUpdates(source: AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>>, windowMs: number): AsyncGenerator<TrackedEnvelope<StreamItem<LogEvent>>> {
  const pending = new Map<string, Update>();
  let deadline: number | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = function* () {
    const merged = [...pending.values()].sort((a, b) => a.seq - b.seq);
    pending.clear();
    deadline = null;
    for (const event of merged) yield tracked(String(event.seq), event as StreamItem<LogEvent>);
  };
  let next = source.next();
  try {
    for (;;) {
      let result: IteratorResult<TrackedEnvelope<StreamItem<LogEvent>>> | 'flush';
      if (deadline === null) result = await next;
      else {
        const wait = new Promise<'flush'>((resolve) => (timer = setTimeout(() => resolve('flush'), Math.max(0, deadline! - Date.now()))));
        result = await Promise.race([next, wait]);
        clearTimeout(timer);
      }
      if (result === 'flush') {
        yield* flush();
        continue;
      }
      if (result.done) {
        yield* flush();
        return;
      }
      const [, item] = result.value;
      next = source.next();
      if (item.type !== 'RESYNC' && item.action === 'updated') {
        const earlier = pending.get(item.recordId);
        pending.set(item.recordId, earlier ? mergeUpdates(earlier, item as Update) : (item as Update));
        deadline ??= Date.now() + windowMs;
        continue;
      }
      yield* flush();
      yield result.value;
    }
  } finally {
    clearTimeout(timer);
    await source.return(undefined);
  }
}
