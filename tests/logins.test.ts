import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { clientAddress, createContextInner, newConnectionInfo } from '../src/server/context.ts';
import { appRouter } from '../src/server/routers/_app.ts';
import { createCallerFactory } from '../src/server/trpc.ts';
import { DEMO_PASSWORD } from '../src/server/db/seed.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * Sign-in throttling (issue 18 item 3). In the `multinode` project the servers are two
 * nodes on one Redis: failures through the first node lock the account on the last.
 */

interface Reply {
  result?: { data: { token: string } };
  error?: { message: string; data: { code: string; httpStatus: number; retryAfterMs?: number } };
}

async function login(url: string, email: string, password: string): Promise<Reply> {
  const response = await fetch(`${url}/trpc/auth.login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  return (await response.json()) as Reply;
}

/** `count` sign-ins in one HTTP batch request. */
async function loginBatch(url: string, email: string, password: string, count: number): Promise<Reply[]> {
  const paths = Array.from({ length: count }, () => 'auth.login').join(',');
  const body = Object.fromEntries(Array.from({ length: count }, (_, i) => [i, { email, password }]));
  const response = await fetch(`${url}/trpc/${paths}?batch=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Reply[];
}

async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((each) => each.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const codeOf = (reply: Reply) => reply.error?.data.code ?? 'OK';
const FAILED_LOGINS = 'tandem_auth_failures_total{door="login"}';
const THROTTLED_LOGINS = 'tandem_rate_limited_total{limit="logins per account"}';

describe('sign-in throttling with the default limits (10 failures per account in 15 minutes lock it for 15 minutes)', () => {
  let t: TestServer;
  let nodeA: string;
  let nodeB: string;
  beforeAll(async () => {
    // Every request here comes from 127.0.0.1: the per-address cap is raised so the per-account one is what they meet.
    t = await startTestServer({ config: { LOGIN_FAILURES_PER_ADDRESS: 1_000 } });
    nodeA = t.servers[0]!.url;
    nodeB = t.servers.at(-1)!.url;
  });
  afterAll(async () => {
    await t[Symbol.asyncDispose]();
  });

  it('checks 10 wrong passwords sent one at a time, refuses the next 40 and then the right one with a retry hint; another account is unaffected', async () => {
    const failedBefore = await metric(nodeA, FAILED_LOGINS);
    const throttledBefore = await metric(nodeA, THROTTLED_LOGINS);
    const replies: Reply[] = [];
    for (let i = 0; i < 50; i++) replies.push(await login(nodeA, 'alice@acme.test', `wrong-${i}`));

    expect(replies.slice(0, 10).map(codeOf)).toEqual(Array(10).fill('UNAUTHORIZED'));
    expect(replies.slice(10).map(codeOf)).toEqual(Array(40).fill('TOO_MANY_REQUESTS'));
    for (const reply of replies.slice(10)) {
      expect(reply.error?.data).toMatchObject({ httpStatus: 429, retryAfterMs: expect.any(Number) });
      expect(reply.error!.data.retryAfterMs).toBeGreaterThan(14 * 60_000);
      expect(reply.error!.data.retryAfterMs).toBeLessThanOrEqual(15 * 60_000);
    }
    expect((await metric(nodeA, FAILED_LOGINS)) - failedBefore).toBe(10);
    expect((await metric(nodeA, THROTTLED_LOGINS)) - throttledBefore).toBe(40);

    // Locked on every node, whatever the password.
    expect(codeOf(await login(nodeB, 'alice@acme.test', DEMO_PASSWORD))).toBe('TOO_MANY_REQUESTS');
    expect(codeOf(await login(nodeA, 'carol@globex.test', DEMO_PASSWORD))).toBe('OK');
  });

  it('checks at most 10 of 50 wrong passwords sent in one HTTP batch', async () => {
    const failedBefore = await metric(nodeB, FAILED_LOGINS);
    const replies = await loginBatch(nodeB, 'bob@acme.test', 'wrong', 50);

    expect(replies).toHaveLength(50);
    expect(replies.filter((reply) => codeOf(reply) === 'UNAUTHORIZED')).toHaveLength(10);
    const refused = replies.filter((reply) => codeOf(reply) === 'TOO_MANY_REQUESTS');
    expect(refused).toHaveLength(40);
    for (const reply of refused) expect(reply.error!.data.retryAfterMs).toBeGreaterThan(0);
    expect((await metric(nodeB, FAILED_LOGINS)) - failedBefore).toBe(10);

    expect(codeOf(await login(nodeA, 'bob@acme.test', DEMO_PASSWORD))).toBe('TOO_MANY_REQUESTS');
    expect(codeOf(await login(nodeB, 'carol@globex.test', DEMO_PASSWORD))).toBe('OK');
  });
});

describe('sign-in throttling with short limits (3 failures per account, 5 per address, locked for 1 s, then 2 s) behind one proxy', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      config: { LOGIN_FAILURES_PER_ACCOUNT: 3, LOGIN_FAILURES_PER_ADDRESS: 5, LOGIN_FAILURE_WINDOW_SECONDS: 60, LOGIN_LOCK_SECONDS: 1, LOGIN_LOCK_MAX_SECONDS: 2, TRUST_PROXY: 1 },
    });
  });
  afterAll(async () => {
    await t[Symbol.asyncDispose]();
  });

  /** `auth.login` as the test caller calls it (no client address unless given), on each node in turn. */
  let calls = 0;
  async function signIn(email: string, password: string, address?: string, retryAfter?: (ms: number) => void) {
    const deps = t.apps[calls++ % t.apps.length]!.deps;
    const caller = createCallerFactory(appRouter)(await createContextInner(deps, null, newConnectionInfo('http', address)));
    return caller.auth.login({ email, password }).then(
      () => 'OK',
      (error: { code: string; cause?: { limit?: string; retryAfterMs?: number } }) => {
        if (error.cause?.retryAfterMs) retryAfter?.(error.cause.retryAfterMs);
        return error.cause?.limit ? `${error.code} (${error.cause.limit})` : error.code;
      },
    );
  }

  it('lets the account in again once the lock has run out', async () => {
    for (let i = 0; i < 3; i++) expect(await signIn('alice@acme.test', 'wrong')).toBe('UNAUTHORIZED');
    expect(await signIn('alice@acme.test', DEMO_PASSWORD)).toBe('TOO_MANY_REQUESTS (logins per account)');
    await vi.waitFor(async () => expect(await signIn('alice@acme.test', DEMO_PASSWORD)).toBe('OK'), { timeout: 5_000, interval: 100 });
  });

  it('locks an account again twice as long while it has not signed in, up to the maximum', async () => {
    const hints: number[] = [];
    const hint = (ms: number) => hints.push(ms);
    for (let i = 0; i < 3; i++) expect(await signIn('twice@acme.test', 'wrong')).toBe('UNAUTHORIZED');
    expect(await signIn('twice@acme.test', 'wrong', undefined, hint)).toBe('TOO_MANY_REQUESTS (logins per account)');
    expect(hints.pop()).toBe(1_000);
    // Wrong passwords while locked do not lengthen the lock; the first one after it is checked again.
    await vi.waitFor(async () => expect(await signIn('twice@acme.test', 'wrong')).toBe('UNAUTHORIZED'), { timeout: 5_000, interval: 100 });
    for (let i = 0; i < 2; i++) expect(await signIn('twice@acme.test', 'wrong')).toBe('UNAUTHORIZED');
    expect(await signIn('twice@acme.test', DEMO_PASSWORD, undefined, hint)).toBe('TOO_MANY_REQUESTS (logins per account)');
    expect(hints.pop()).toBe(2_000);
    // The third lock would be 4 s: the maximum, 2 s, holds.
    await vi.waitFor(async () => expect(await signIn('twice@acme.test', 'wrong')).toBe('UNAUTHORIZED'), { timeout: 5_000, interval: 100 });
    for (let i = 0; i < 2; i++) expect(await signIn('twice@acme.test', 'wrong')).toBe('UNAUTHORIZED');
    expect(await signIn('twice@acme.test', 'wrong', undefined, hint)).toBe('TOO_MANY_REQUESTS (logins per account)');
    expect(hints.pop()).toBe(2_000);
  });

  it('forgets an account’s failures when it signs in', async () => {
    // Without the reset the fourth attempt here would be the one past the limit.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++) expect(await signIn('bob@acme.test', 'wrong')).toBe('UNAUTHORIZED');
      expect(await signIn('bob@acme.test', DEMO_PASSWORD)).toBe('OK');
    }
  });

  it('locks an address after 5 failures across accounts; other addresses are unaffected', async () => {
    for (let i = 0; i < 5; i++) expect(await signIn(`nobody-${i}@acme.test`, 'wrong', '203.0.113.7')).toBe('UNAUTHORIZED');
    expect(await signIn('carol@globex.test', DEMO_PASSWORD, '203.0.113.7')).toBe('TOO_MANY_REQUESTS (logins per address)');
    expect(await signIn('carol@globex.test', DEMO_PASSWORD, '203.0.113.8')).toBe('OK');
  });

  it('counts the address the trusted proxy saw, not one the client put in front of it', async () => {
    const url = t.servers[0]!.url;
    const viaProxy = (forwardedFor: string, email: string, password: string) =>
      fetch(`${url}/trpc/auth.login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
        body: JSON.stringify({ email, password }),
      }).then(async (response) => codeOf((await response.json()) as Reply));
    for (let i = 0; i < 5; i++) expect(await viaProxy(`198.18.0.${i}, 203.0.113.20`, `nobody-${i}@globex.test`, 'wrong')).toBe('UNAUTHORIZED');
    expect(await viaProxy('203.0.113.20', 'carol@globex.test', DEMO_PASSWORD)).toBe('TOO_MANY_REQUESTS');
    expect(await viaProxy('203.0.113.21', 'carol@globex.test', DEMO_PASSWORD)).toBe('OK');
  });

  it('counts sign-ins over the WebSocket by the address of its upgrade', async () => {
    const client = await t.client('bob@acme.test');
    for (let i = 0; i < 5; i++) {
      await expect(client.trpc.auth.login.mutate({ email: `someone-${i}@acme.test`, password: 'wrong' })).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    }
    // The same peer (no proxy header: the TCP peer counts) over HTTP, on whichever node.
    expect(codeOf(await login(t.servers.at(-1)!.url, 'carol@globex.test', DEMO_PASSWORD))).toBe('TOO_MANY_REQUESTS');
  });
});

describe('clientAddress', () => {
  const request = (forwardedFor?: string) => ({
    headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
    socket: { remoteAddress: '10.0.0.1' } as IncomingMessage['socket'],
  });

  it('is the TCP peer unless proxies are trusted, then the entry the outermost trusted proxy appended', () => {
    expect(clientAddress(request('1.1.1.1, 2.2.2.2'), 0)).toBe('10.0.0.1');
    expect(clientAddress(request('1.1.1.1, 2.2.2.2'), 1)).toBe('2.2.2.2');
    expect(clientAddress(request('1.1.1.1,2.2.2.2'), 2)).toBe('1.1.1.1');
    expect(clientAddress(request('2.2.2.2'), 2)).toBe('2.2.2.2');
    expect(clientAddress(request(), 1)).toBe('10.0.0.1');
  });
});
