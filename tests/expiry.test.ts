import { describe, expect, it, vi } from 'vitest';
import { pendingExpiryWatches, watchExpiry } from '../src/server/events/expiry.ts';

describe('session expiry (one timer for every subscription)', () => {
  it('ends each watch when its session expires, in order, with no event needed; a stopped one never fires', async () => {
    const fired: string[] = [];
    const now = Date.now();
    const late = watchExpiry({ expiresAt: now + 120 }, () => fired.push('late'));
    const early = watchExpiry({ expiresAt: now + 40 }, () => fired.push('early'));
    const stopped = watchExpiry({ expiresAt: now + 80 }, () => fired.push('stopped'));
    stopped.stop();
    expect(early.expired()).toBe(false);
    await vi.waitFor(() => expect(fired).toEqual(['early', 'late']), { timeout: 2_000, interval: 10 });
    expect(early.expired() && late.expired()).toBe(true);
    expect(pendingExpiryWatches()).toBe(0);
  });

  it('a session refreshed before it expires keeps its watch until the new time', async () => {
    const fired: string[] = [];
    const now = Date.now();
    const session = { expiresAt: now + 40 };
    const refreshed = watchExpiry(session, () => fired.push('refreshed'));
    const other = watchExpiry({ expiresAt: now + 100 }, () => fired.push('other'));
    session.expiresAt = now + 200;
    await vi.waitFor(() => expect(fired).toEqual(['other']), { timeout: 2_000, interval: 10 });
    expect(refreshed.expired()).toBe(false);
    await vi.waitFor(() => expect(fired).toEqual(['other', 'refreshed']), { timeout: 2_000, interval: 10 });
    other.stop();
    refreshed.stop();
    expect(pendingExpiryWatches()).toBe(0);
  });

  it('a session already expired is expired at once and calls nothing', () => {
    const onExpire = vi.fn();
    const session = { expiresAt: Date.now() - 1 };
    const watch = watchExpiry(session, onExpire);
    // Sticky, as a fired watch is: a later refresh does not revive it.
    session.expiresAt = Date.now() + 60_000;
    expect(watch.expired()).toBe(true);
    expect(onExpire).not.toHaveBeenCalled();
    expect(pendingExpiryWatches()).toBe(0);
  });
});
