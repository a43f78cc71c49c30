import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createTandemClient } from '../src/client/trpc.ts';
import { createTokenService } from '../src/server/auth/tokens.ts';
import type { StreamItem } from '../src/shared/events.ts';
import { TEST_TOKEN_SECRET } from './helpers/app.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** A token of bob's that expires within about 2 s. */
async function shortToken() {
  const tokens = createTokenService(new TextEncoder().encode(TEST_TOKEN_SECRET), 2);
  const bob = t.users['bob@acme.test'];
  const { sessionId } = await t.deps.sessions.create(bob);
  return (await tokens.sign({ userId: bob.id, orgId: bob.orgId, sessionId })).token;
}

function subscribe(token: string) {
  const client = createTandemClient({ url: t.server.url, getToken: () => token, WebSocket: WebSocket as never, retryDelayMs: () => 60_000 });
  const items: StreamItem[] = [];
  const errors: { data?: { code?: string } }[] = [];
  let started = false;
  client.trpc.jobs.onChange.subscribe({}, { onStarted: () => (started = true), onData: ({ data }) => items.push(data), onError: (error) => errors.push(error as never) });
  return { client, items, errors, isStarted: () => started };
}

describe('token lifetime on a live connection', () => {
  it('a refreshed token keeps subscriptions running; an expired one ends them with UNAUTHORIZED', async () => {
    const writer = await t.client('alice@acme.test');
    const expiring = subscribe(await shortToken());
    const refreshed = subscribe(await shortToken());
    try {
      await vi.waitFor(() => expect(expiring.isStarted() && refreshed.isStarted()).toBe(true), { timeout: 5_000 });
      const fresh = await refreshed.client.trpc.auth.refresh.mutate();
      expect(Date.parse(fresh.expiresAt)).toBeGreaterThan(Date.now() + 60_000);

      await vi.waitFor(() => expect(expiring.errors.map((error) => error.data?.code)).toEqual(['UNAUTHORIZED']), { timeout: 10_000 });
      // The refreshed connection outlived the old token: it still calls and still receives.
      expect((await refreshed.client.trpc.auth.me.query()).email).toBe('bob@acme.test');
      const job = await writer.trpc.jobs.create.mutate({ title: 'After expiry' });
      await vi.waitFor(() => expect(refreshed.items.map((item) => (item.type === 'RESYNC' ? null : item.recordId))).toContain(job.id), {
        timeout: 5_000,
      });
      expect(refreshed.errors).toEqual([]);
      expect(expiring.items.some((item) => item.type !== 'RESYNC' && item.recordId === job.id)).toBe(false);
      await expect(expiring.client.trpc.auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    } finally {
      await expiring.client.close();
      await refreshed.client.close();
    }
  });

  it("accepts a token of the same user on a live connection, and refuses anyone else's", async () => {
    const caller = await t.caller('bob@acme.test');
    const { sessionId } = await t.deps.sessions.create(t.users['bob@acme.test']);
    const later = await createTokenService(new TextEncoder().encode(TEST_TOKEN_SECRET), 7200).sign({
      userId: t.users['bob@acme.test'].id,
      orgId: t.users['bob@acme.test'].orgId,
      sessionId,
    });
    expect(Date.parse((await caller.auth.useToken({ token: later.token })).expiresAt)).toBe(later.expiresAt);
    await expect(caller.auth.useToken({ token: await t.tokenFor('alice@acme.test') })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(caller.auth.useToken({ token: 'garbage' })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
