import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/client/link/backoff.ts';

const at = (random: number) => () => random;

describe('backoffDelay', () => {
  it('doubles from the base up to the cap, leaving up to half of each delay to chance by default', () => {
    const longest = Array.from({ length: 8 }, (_, attempt) => backoffDelay(attempt, { random: at(0) }));
    const shortest = Array.from({ length: 8 }, (_, attempt) => backoffDelay(attempt, { random: at(1) }));
    expect(longest).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect(shortest).toEqual(longest.map((delay) => delay / 2));
    for (let attempt = 0; attempt < 40; attempt++) {
      const delay = backoffDelay(attempt);
      const cap = Math.min(30_000, 1_000 * 2 ** attempt);
      expect(delay).toBeGreaterThanOrEqual(cap / 2);
      expect(delay).toBeLessThanOrEqual(cap);
    }
  });

  it('takes its base, cap and jitter from the options', () => {
    // The web app's reconnect: capped at 10 s.
    expect(backoffDelay(10, { capMs: 10_000, random: at(0) })).toBe(10_000);
    expect(backoffDelay(10, { capMs: 10_000, random: at(1) })).toBe(5_000);
    // A request's retry: 100 ms × 2^n up to 2 s, exact.
    expect([1, 2, 3, 4, 5, 6, 1_000].map((attempt) => backoffDelay(attempt, { baseMs: 100, capMs: 2_000, jitter: 0 }))).toEqual([200, 400, 800, 1_600, 2_000, 2_000, 2_000]);
  });
});
