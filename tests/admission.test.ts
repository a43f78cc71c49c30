import { createTRPCClient, createWSClient, TRPCClientError, wsLink } from '@trpc/client';
import { getTRPCErrorShape } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient } from '../src/client/trpc.ts';
import { serviceUnavailable } from '../src/server/errors.ts';
import { appRouter, type AppRouter } from '../src/server/routers/_app.ts';
import { BUSY_LIMIT, BusyRefusals } from '../src/server/transport/busy-refusal.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * Admission control (events/commit-admission.ts): past the bound on commits waiting, a
 * change is refused at once with SERVICE_UNAVAILABLE and `retryAfterMs` and changes
 * nothing; the client link sends it again after the hint with the same idempotency key,
 * so every call lands exactly once.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    // Four commits waiting on the node, one per org: a burst of one user's changes overflows it.
    config: { MAX_COMMITS_WAITING: 4, MUTATIONS_PER_SECOND_PER_CONNECTION: 10_000, MUTATIONS_PER_SECOND_PER_USER: 10_000 },
  });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

const countLeads = (prefix: string) => t.deps.db.lead.count({ where: { name: { startsWith: prefix } } });
const metric = async (name: string) => Number((await (await fetch(`${t.server.url}/metrics`)).text()).match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? Number.NaN);

describe('admission control', () => {
  it('refuses changes past the bound on commits waiting with SERVICE_UNAVAILABLE and a retry hint, and writes nothing for them', async () => {
    const shedBefore = t.deps.admission.shed;
    const alice = await t.caller('alice@acme.test');
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => alice.leads.create({ name: `Burst ${i}` })));
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => (outcome as PromiseRejectedResult).reason);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', cause: { retryAfterMs: expect.any(Number) } });
      expect(error.cause.retryAfterMs).toBeGreaterThanOrEqual(20);
    }
    expect(await countLeads('Burst ')).toBe(30 - refused.length);
    expect(t.deps.admission.shed - shedBefore).toBe(refused.length);
    // Everything admitted has finished: nothing is left holding a place.
    expect(t.deps.admission.waiting).toBe(0);
  });

  it('keeps one org’s burst from taking another org’s places', async () => {
    const alice = await t.caller('alice@acme.test');
    const carol = await t.caller('carol@globex.test');
    const burst = Promise.allSettled(Array.from({ length: 20 }, (_, i) => alice.leads.create({ name: `Acme burst ${i}` })));
    // Globex has a place of its own while Acme's burst is waiting.
    await expect(carol.leads.create({ name: 'Globex during burst' })).resolves.toMatchObject({ name: 'Globex during burst' });
    await burst;
  });

  it('answers over HTTP with 503 and retryAfterMs', async () => {
    const token = await t.tokenFor('bob@acme.test');
    const http = createHttpClient(t.server.url, () => token);
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => http.leads.create.mutate({ name: `HTTP burst ${i}` })));
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => (outcome as PromiseRejectedResult).reason);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatchObject({ data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503, retryAfterMs: expect.any(Number) } });
    expect(await countLeads('HTTP burst ')).toBe(20 - refused.length);
  });

  it('refuses a mutation over the WebSocket before it runs, with the error the formatter gives, while the node is full', async () => {
    const token = await t.tokenFor('bob@acme.test');
    const wsClient = createWSClient({ url: `${t.server.url.replace(/^http/, 'ws')}/trpc`, WebSocket: WebSocket as never, connectionParams: { token } });
    // No retry link: the refusal itself is what is looked at.
    const raw = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient })] });
    const places = ['w', 'x', 'y', 'z'].map((org) => t.deps.admission.admit(`full-${org}`));
    try {
      expect(t.deps.admission.full()).toBeGreaterThan(0);
      const refused = await raw.leads.create.mutate({ name: 'While full' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(TRPCClientError);
      const { shape } = refused as TRPCClientError<AppRouter>;
      expect(shape?.data).toMatchObject({ code: 'SERVICE_UNAVAILABLE', httpStatus: 503, path: 'leads.create', retryAfterMs: expect.any(Number) });
      expect(shape?.message).toBe(`Server busy (${BUSY_LIMIT}); retry in ${shape?.data.retryAfterMs} ms`);
    } finally {
      for (const release of places) release();
      wsClient.close();
    }
    expect(await countLeads('While full')).toBe(0);
  });

  it('builds the WebSocket refusal as the formatter shapes serviceUnavailable, for mutations only', () => {
    const busy = new BusyRefusals(appRouter);
    // The stack (in development only) is the one thing that differs: where the error was made.
    const withoutStack = ({ data: { stack: _stack, ...data }, ...shape }: { data: Record<string, unknown> }) => ({ ...shape, data });
    for (const retryAfterMs of [50, 1_234]) {
      const error = serviceUnavailable(BUSY_LIMIT, retryAfterMs);
      const formatted = getTRPCErrorShape({ config: appRouter._def._config, error, type: 'mutation', path: 'jobs.update', input: undefined, ctx: undefined });
      expect(withoutStack(busy.shapeOf('jobs.update', retryAfterMs)!)).toEqual(withoutStack(formatted));
    }
    expect(busy.shapeOf('jobs.list', 50)).toBeUndefined();
    expect(busy.shapeOf('no.such.procedure', 50)).toBeUndefined();
    expect(busy.shapeOf(undefined, 50)).toBeUndefined();
  });

  it('lets the client link retry refused mutations with the same key: every call lands exactly once', async () => {
    const shedBefore = await metric('tandem_commits_shed_total');
    const client = await t.client('alice@acme.test');
    const created = await Promise.all(Array.from({ length: 40 }, (_, i) => client.trpc.leads.create.mutate({ name: `Linked ${i}` })));
    expect(new Set(created.map((lead) => lead.id)).size).toBe(40);
    const names = (await t.deps.db.lead.findMany({ where: { name: { startsWith: 'Linked ' } }, select: { name: true } })).map((lead) => lead.name);
    expect(names.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `Linked ${i}`).sort());
    // Some were refused and sent again: the retries are what this proves.
    expect((await metric('tandem_commits_shed_total')) - shedBefore).toBeGreaterThan(0);
    expect(await metric('tandem_commits_waiting')).toBe(0);
  });
});
