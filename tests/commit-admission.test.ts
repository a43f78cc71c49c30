import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CommitAdmission } from '../src/server/events/commit-admission.ts';

/** The bound on commits waiting and how it adapts (events/commit-admission.ts), on a fake clock. */
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error as { code: string; cause: { retryAfterMs: number } };
  }
  throw new Error('not refused');
};

describe('commit admission', () => {
  it('admits up to the bound, per org up to its share, and refuses past them with a retry hint', () => {
    const admission = new CommitAdmission({ maxWaiting: 8, maxWaitingPerOrg: 3, targetLatencyMs: 250 });
    const releases = [0, 1, 2].map(() => admission.admit('a'));
    expect(refusal(() => admission.admit('a'))).toMatchObject({ code: 'SERVICE_UNAVAILABLE', cause: { retryAfterMs: expect.any(Number) } });
    releases.push(...[0, 1, 2].map(() => admission.admit('b')), admission.admit('c'), admission.admit('c'));
    expect(admission.waiting).toBe(8);
    expect(admission.full()).toBeGreaterThanOrEqual(50);
    expect(() => admission.admit('d')).toThrow(/busy/);
    expect(admission.shed).toBe(3);
    for (const release of releases) release();
    expect(admission.waiting).toBe(0);
    expect(admission.full()).toBeUndefined();
  });

  it('shrinks the bound while commits take longer than the target, and lets it grow back when they are fast', () => {
    const admission = new CommitAdmission({ maxWaiting: 100, maxWaitingPerOrg: 100, targetLatencyMs: 50 });
    const slow = () => {
      const release = admission.admit('a');
      vi.advanceTimersByTime(80);
      release();
    };
    slow();
    expect(admission.limit).toBe(75);
    slow();
    expect(admission.limit).toBe(56);
    for (let i = 0; i < 20; i++) slow();
    // Never below what keeps a group commit full.
    expect(admission.limit).toBe(16);
    for (let i = 0; i < 10; i++) admission.admit('a')();
    expect(admission.limit).toBe(26);
    for (let i = 0; i < 200; i++) admission.admit('a')();
    expect(admission.limit).toBe(100);
  });

  it('spreads the retries of a backlog over the time the node needs to serve it', () => {
    const admission = new CommitAdmission({ maxWaiting: 4, maxWaitingPerOrg: 4, targetLatencyMs: 250 });
    const held = [0, 1, 2, 3].map(() => admission.admit('a'));
    // One second: 1000 callers refused while 100 commits finished.
    for (let i = 0; i < 1000; i++) admission.full();
    for (let i = 0; i < 100; i++) {
      held.shift()!();
      held.push(admission.admit('a'));
      vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(1);
    // Ten seconds of commits are needed for that many callers: the hint says so.
    expect(admission.full()).toBeGreaterThanOrEqual(9_000);
    // After a quiet spell the old backlog no longer counts.
    for (const release of held) release();
    vi.advanceTimersByTime(5_000);
    [0, 1, 2, 3].map(() => admission.admit('a'));
    expect(admission.full()).toBeLessThan(1_000);
  });
});
