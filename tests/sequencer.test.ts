import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../src/shared/events.ts';
import { OrgSequencer } from '../src/server/bus/sequencer.ts';

const event = (seq: number, orgId = 'acme') => ({ seq, orgId }) as LogEvent;

function makeSequencer() {
  const delivered: number[] = [];
  const gaps: { afterSeq: number; throughSeq: number; fill: (events: LogEvent[]) => void }[] = [];
  const errors: unknown[] = [];
  const sequencer = new OrgSequencer({
    deliver: (e) => delivered.push(e.seq),
    readGap: (_orgId, afterSeq, throughSeq) => new Promise((fill) => gaps.push({ afterSeq, throughSeq, fill })),
    onError: (error) => errors.push(error),
  });
  return { sequencer, delivered, gaps, errors };
}

/** Lets every promise callback that is already due run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('org sequencer (events from other nodes)', () => {
  it('hands on in seq order, once, and fills a gap from the log first', async () => {
    const { sequencer, delivered, gaps } = makeSequencer();
    sequencer.accept(event(1), 0);
    sequencer.accept(event(2), 1);
    sequencer.accept(event(2), 1);
    expect(delivered).toEqual([1, 2]);
    // 3 and 4 went missing on the way: 5 waits for them.
    sequencer.accept(event(5), 4);
    expect(delivered).toEqual([1, 2]);
    expect(gaps.map(({ afterSeq, throughSeq }) => [afterSeq, throughSeq])).toEqual([[2, 5]]);
    gaps[0]!.fill([event(3), event(4)]);
    await settle();
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
  });

  it('queues what arrives while a gap is filled behind it, then goes back to handing on at once', async () => {
    const { sequencer, delivered, gaps, errors } = makeSequencer();
    sequencer.accept(event(1), 0);
    sequencer.accept(event(4), 3);
    // Arrive while 2 and 3 are read: they must wait, in order (before a fix these queued
    // behind themselves for ever and starved the process).
    sequencer.accept(event(5), 4);
    sequencer.accept(event(6), 5);
    sequencer.accept(event(1, 'globex'), 0);
    expect(delivered).toEqual([1, 1]);
    gaps[0]!.fill([event(2), event(3)]);
    await settle();
    expect(delivered).toEqual([1, 1, 2, 3, 4, 5, 6]);
    sequencer.accept(event(7), 6);
    expect(delivered.at(-1)).toBe(7);
    expect(errors).toEqual([]);
  });
});
