import { tracked, type TrackedEnvelope } from '@trpc/server';
import type { CrmEvent } from '../../shared/events.ts';
import type { ModuleName } from '../../shared/modules.ts';
import type { EventBus } from '../bus/types.ts';
import type { Db } from '../db/client.ts';
import { readEventsAfter } from './log.ts';

export interface EventFilter {
  modules?: readonly ModuleName[];
  recordId?: string;
}

export interface StreamEventsOptions {
  db: Db;
  bus: EventBus;
  orgId: string;
  filter: EventFilter;
  /** Resume after this event id; absent: only what happens from now on. */
  lastEventId?: string | null;
  signal: AbortSignal | undefined;
}

const REPLAY_PAGE = 500;

export function matchesFilter(filter: EventFilter, event: CrmEvent): boolean {
  if (filter.modules && !filter.modules.includes(event.module)) return false;
  if (filter.recordId !== undefined && event.recordId !== filter.recordId) return false;
  return true;
}

/**
 * The org's events matching `filter` as `tracked(seq, event)`: first the log after
 * `lastEventId`, then live ones. It listens to the bus *before* reading the log, so
 * an event committed during the replay is buffered rather than lost, and it skips
 * every live event it already yielded from the log: no gap, no duplicate.
 */
export async function* streamEvents(options: StreamEventsOptions): AsyncGenerator<TrackedEnvelope<CrmEvent>> {
  const { db, bus, orgId, filter } = options;
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const live = bus.subscribe(orgId, {
    signal: abort.signal,
    filter: filter.modules || filter.recordId !== undefined ? (event) => matchesFilter(filter, event) : undefined,
  });
  try {
    let lastSeq = options.lastEventId == null ? -1 : Number(options.lastEventId);
    if (lastSeq >= 0) {
      for (;;) {
        const page = await readEventsAfter(db, { orgId, afterSeq: lastSeq, ...filter, limit: REPLAY_PAGE });
        for (const event of page) {
          lastSeq = event.seq;
          yield tracked(String(event.seq), event);
        }
        if (page.length < REPLAY_PAGE) break;
      }
    }
    for await (const event of live) {
      if (event.seq <= lastSeq) continue;
      lastSeq = event.seq;
      yield tracked(String(event.seq), event);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    abort.abort();
    await live.return?.();
  }
}
