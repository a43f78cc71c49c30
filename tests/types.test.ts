import { describe, expect, expectTypeOf, it } from 'vitest';
import { backoffWithJitter, logFilterOf, type TandemClient } from '../src/client/trpc.ts';
import { createConnectionTracker } from '../src/client/link/connection.ts';
import type { CrmEvent, ResyncSignal } from '../src/shared/events.ts';
import type { RecordOf } from '../src/shared/modules.ts';

describe('client types', () => {
  it('derive records, inputs and events from the shared definitions', () => {
    type Trpc = TandemClient['trpc'];
    expectTypeOf<Awaited<ReturnType<Trpc['jobs']['byId']['query']>>>().toEqualTypeOf<RecordOf<'jobs'>>();
    expectTypeOf<RecordOf<'jobs'>['scheduledAt']>().toEqualTypeOf<string | null>();
    expectTypeOf<RecordOf<'escrows'>['purchasePriceCents']>().toEqualTypeOf<number | null>();
    expectTypeOf<Parameters<Trpc['jobs']['create']['mutate']>[0]>().toHaveProperty('title').toEqualTypeOf<string>();
    expectTypeOf<Parameters<Trpc['appointments']['create']['mutate']>[0]>().toHaveProperty('startsAt').toEqualTypeOf<string>();
    type JobEvent = Extract<CrmEvent, { module: 'jobs' }>;
    type OnData = NonNullable<Parameters<Trpc['jobs']['onChange']['subscribe']>[1]['onData']>;
    expectTypeOf<Parameters<OnData>[0]>().toEqualTypeOf<{ id: string; data: JobEvent | ResyncSignal }>();
    expectTypeOf<Extract<CrmEvent, { type: 'LISTING_UPDATED' }>['data']['status']>().toEqualTypeOf<
      { from: RecordOf<'listings'>['status']; to: RecordOf<'listings'>['status'] } | undefined
    >();
  });
});

describe('client link pieces', () => {
  it('backs off exponentially with jitter, capped at 30 s', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(30_000, 1_000 * 2 ** attempt);
      const delay = backoffWithJitter(attempt);
      expect(delay).toBeGreaterThanOrEqual(base / 2);
      expect(delay).toBeLessThanOrEqual(base);
    }
  });

  it('maps each log subscription to the part of the log that polling reads', () => {
    expect(logFilterOf('events.onAny', { modules: ['jobs'] })).toEqual({ modules: ['jobs'] });
    expect(logFilterOf('events.onAny', undefined)).toEqual({});
    expect(logFilterOf('leads.onChange', { id: 'r1' })).toEqual({ modules: ['leads'], recordId: 'r1' });
    expect(logFilterOf('leads.onChange', {})).toEqual({ modules: ['leads'] });
    expect(logFilterOf('presence.onChange', {})).toBeNull();
  });

  it('tells live, reconnecting (with attempts), polling and offline apart', () => {
    const tracker = createConnectionTracker();
    const seen: string[] = [];
    tracker.subscribe(({ state, attempt }) => seen.push(`${state}${attempt ? `#${attempt}` : ''}`));
    tracker.socketOpened();
    tracker.socketFailed();
    tracker.socketFailed();
    tracker.httpSucceeded();
    tracker.httpFailed();
    tracker.socketOpened();
    tracker.socketReplaced();
    tracker.close();
    expect(seen).toEqual(['open', 'reconnecting#1', 'reconnecting#2', 'fallback-polling#2', 'offline#2', 'open', 'reconnecting', 'closed']);
  });
});
