import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisSessionChannel, type SessionNotice } from '../src/server/auth/session-channel.ts';
import { createLogger } from '../src/server/logger.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';

/** Session notices between nodes through Redis, and what a node does after an outage (it asks for a resync). */
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

function node() {
  const channel = new RedisSessionChannel({ url: redis.url, logger: createLogger('silent'), channel: 'test:sessions' });
  const notices: SessionNotice[] = [];
  let resyncs = 0;
  channel.listen({ notice: (notice) => notices.push(notice), resync: () => (resyncs += 1) });
  return { channel, notices, resyncs: () => resyncs };
}

describe('RedisSessionChannel', () => {
  it('delivers a notice to its own node once and to the others; after Redis was down, asks for a resync', async () => {
    const a = node();
    const b = node();
    try {
      await Promise.all([a.channel.start(), b.channel.start()]);
      const revoked: SessionNotice = { type: 'session', sessionId: 's1', userId: 'u1' };
      // Subscribing completes after `ready`: publish until the other node hears.
      await vi.waitFor(
        () => {
          a.channel.publish(revoked);
          expect(b.notices).toContainEqual(revoked);
        },
        { timeout: 5_000 },
      );
      // Its own notices come once, locally, not again through Redis.
      const echo: SessionNotice = { type: 'user', userId: 'echo' };
      const count = (notices: SessionNotice[]) => notices.filter((notice) => notice.type === 'user' && notice.userId === 'echo').length;
      a.channel.publish(echo);
      await vi.waitFor(() => expect(count(b.notices)).toBe(1), { timeout: 2_000 });
      // A second one behind it: once the other node has it, Redis has handed out the first everywhere.
      a.channel.publish(revoked);
      const seen = b.notices.length;
      await vi.waitFor(() => expect(b.notices.length).toBe(seen + 1), { timeout: 2_000 });
      expect(count(a.notices)).toBe(1);
      expect(a.resyncs()).toBe(0);

      await redis.stop();
      // While Redis is away a notice still reaches its own node.
      a.channel.publish({ type: 'user', userId: 'u2' });
      await vi.waitFor(() => expect(a.notices).toContainEqual({ type: 'user', userId: 'u2' }), { timeout: 1_000 });
      await redis.start();
      // What was published meanwhile is lost to the others: each reads its sessions again.
      await vi.waitFor(() => expect([a.resyncs(), b.resyncs()]).toEqual([1, 1]), { timeout: 10_000 });
      const changed: SessionNotice = { type: 'user', userId: 'u3' };
      await vi.waitFor(
        () => {
          b.channel.publish(changed);
          expect(a.notices).toContainEqual(changed);
        },
        { timeout: 5_000 },
      );
    } finally {
      await a.channel.close();
      await b.channel.close();
    }
  });
});
