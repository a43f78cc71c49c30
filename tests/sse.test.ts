import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBSCRIPTIONS_OVER_HTTP } from '../src/server/context.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * One door for streams (issue 18 item 4): subscriptions exist only on the WebSocket,
 * where the caps on connections and subscriptions apply. tRPC's server-sent events over
 * HTTP had let one user open 2,100 streams.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** The `serialized-error` event of an SSE body (tRPC's error shape as its data). */
function errorEvent(body: string): { message: string; data: { code: string; httpStatus: number } } | undefined {
  const event = body.split('\n\n').find((chunk) => chunk.includes('event: serialized-error'));
  const data = event?.split('\n').find((line) => line.startsWith('data: '));
  return data ? JSON.parse(data.slice('data: '.length)) : undefined;
}

describe('subscriptions over HTTP', () => {
  it.each(['events.onAny', 'jobs.onChange', 'notifications.onNew'])(
    'refuses %s with a valid token: 405 METHOD_NOT_SUPPORTED, no stream left open, no bus listener',
    async (path) => {
      const token = await t.tokenFor('alice@acme.test');
      const response = await fetch(`${t.server.trpcUrl}/${path}?input=${encodeURIComponent('{}')}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        // Today's stream would never end: fail fast rather than at the test timeout.
        signal: AbortSignal.timeout(5_000),
      });
      expect(response.status).toBe(405);
      // The body ends by itself: the whole of it is one refusal, no data.
      const body = await response.text();
      expect(body).not.toMatch(/^event: data|^id: /m);
      expect(errorEvent(body)).toMatchObject({ message: SUBSCRIPTIONS_OVER_HTTP, data: { code: 'METHOD_NOT_SUPPORTED', httpStatus: 405 } });
      expect(t.deps.bus.listenerCount()).toBe(0);
      const metrics = await (await fetch(`${t.server.url}/metrics`)).text();
      expect(metrics).toMatch(/^tandem_subscriptions 0$/m);
    },
  );

  it('still serves queries and mutations over HTTP, and subscriptions over the WebSocket', async () => {
    const client = await t.client('alice@acme.test');
    const events: string[] = [];
    const subscription = client.trpc.jobs.onChange.subscribe({}, { onData: ({ data }) => events.push(data.type) });
    const token = await t.tokenFor('alice@acme.test');
    const head = await fetch(`${t.server.trpcUrl}/events.head`, { headers: { authorization: `Bearer ${token}` } });
    expect(head.status).toBe(200);
    await client.trpc.jobs.create.mutate({ title: 'Over the socket' });
    await expect.poll(() => events, { timeout: 5_000 }).toContain('JOB_CREATED');
    subscription.unsubscribe();
  });
});
