import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createHttpClient } from '../src/client/trpc.ts';
import { loadTokenSecret, createTokenService } from '../src/server/auth/tokens.ts';
import { hashPassword, verifyPassword } from '../src/server/auth/passwords.ts';
import { readConfig } from '../src/server/config.ts';
import { bearerToken } from '../src/server/context.ts';
import { wsEncoder } from '../src/server/transport/ws-encoder.ts';
import { markShared } from '../src/server/bus/shared-events.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ perModule: 2 });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

describe('HTTP server', () => {
  it('answers /healthz, and 404 for unknown procedures', async () => {
    const health = await fetch(`${t.server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    expect((await fetch(`${t.server.trpcUrl}/nope.nothing`)).status).toBe(404);
  });

  it('refuses WebSocket upgrades outside /trpc', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${t.server.port}/elsewhere`);
    const error = await new Promise<Error>((resolve) => socket.once('error', resolve));
    expect(error.message).toMatch(/404/);
  });

  it('signs in over HTTP with the demo password, and refuses a wrong one', async () => {
    const anonymous = createHttpClient(t.server.url);
    const { token, user, expiresAt } = await anonymous.auth.login.mutate({ email: 'Alice@Acme.test', password: 'demo1234' });
    expect(user).toMatchObject({ email: 'alice@acme.test', role: 'admin', orgName: 'Acme Realty' });
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    const signedIn = createHttpClient(t.server.url, () => token);
    expect(await signedIn.auth.me.query()).toEqual(user);
    expect((await signedIn.jobs.list.query({ limit: 5 })).items).toHaveLength(2);
    await expect(anonymous.auth.login.mutate({ email: 'alice@acme.test', password: 'wrong' })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
    });
    await expect(anonymous.auth.login.mutate({ email: 'nobody@acme.test', password: 'demo1234' })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
    });
    await expect(anonymous.jobs.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  });

  it("lists the people of the caller's org only", async () => {
    const token = await t.tokenFor('bob@acme.test');
    const { items: people } = await createHttpClient(t.server.url, () => token).users.list.query({});
    expect(people.map((person) => [person.email, person.role])).toEqual([
      ['alice@acme.test', 'admin'],
      ['bob@acme.test', 'agent'],
    ]);
    expect(Object.keys(people[0]!).sort()).toEqual(['email', 'id', 'name', 'role']);
  });

  it('explains bad input with field errors and no stack trace', async () => {
    const token = await t.tokenFor('alice@acme.test');
    const client = createHttpClient(t.server.url, () => token);
    const error = await client.jobs.create.mutate({ title: '', status: 'bogus' as never }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ data: { code: 'BAD_REQUEST', httpStatus: 400 } });
    const { message, data } = error as { message: string; data: { zodError: { fieldErrors: Record<string, string[]> }; stack?: string } };
    expect(message).toMatch(/^Invalid input: title: .*; status: /);
    expect(Object.keys(data.zodError.fieldErrors).sort()).toEqual(['status', 'title']);
    expect(data.stack).toBeUndefined();
  });
});

describe('configuration', () => {
  it('has defaults and rejects bad values clearly', () => {
    expect(readConfig({})).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', DATA_DIR: './data', LOG_LEVEL: 'info', SEED_DEMO: true });
    expect(readConfig({ PORT: '0', DATABASE_URL: 'postgresql://u@h/db', SEED_DEMO: 'false' })).toMatchObject({ PORT: 0, SEED_DEMO: false });
    expect(() => readConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', TOKEN_SECRET: 'short' })).toThrow(
      /PORT[\s\S]*DATABASE_URL: DATABASE_URL must be a postgresql:\/\/ URL[\s\S]*TOKEN_SECRET/,
    );
  });

  it('reads who each kind of alert notifies, and the history kept', () => {
    expect(readConfig({}).ALERT_AUDIENCE).toEqual({});
    expect(readConfig({ ALERT_AUDIENCE: ' lead_uncontacted:owner, escrow_closing:org ' }).ALERT_AUDIENCE).toEqual({ lead_uncontacted: 'owner', escrow_closing: 'org' });
    expect(() => readConfig({ ALERT_AUDIENCE: 'lead_uncontacted:everybody' })).toThrow(/ALERT_AUDIENCE: "lead_uncontacted:everybody" is not kind:audience/);
    expect(() => readConfig({ ALERT_AUDIENCE: 'fire:org' })).toThrow(/ALERT_AUDIENCE/);
    expect(readConfig({}).HISTORY_RETENTION_DAYS).toBe(365);
    expect(readConfig({ HISTORY_RETENTION_DAYS: '0' }).HISTORY_RETENTION_DAYS).toBe(0);
  });
});

describe('auth pieces', () => {
  it('hashes passwords with scrypt and verifies them', async () => {
    const hash = await hashPassword('s3cret');
    expect(hash).toMatch(/^scrypt\$/);
    expect(await verifyPassword('s3cret', hash)).toBe(true);
    expect(await verifyPassword('other', hash)).toBe(false);
    expect(await verifyPassword('s3cret', 'md5$abc')).toBe(false);
  });

  it('signs tokens that expire, and keeps a generated secret in the data folder', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tandem-secret-'));
    try {
      const secret = await loadTokenSecret(undefined, dir);
      expect(await loadTokenSecret(undefined, dir)).toEqual(secret);
      expect(((await stat(path.join(dir, 'token-secret'))).mode & 0o777).toString(8)).toBe('600');
      expect((await readFile(path.join(dir, 'token-secret'), 'utf8')).length).toBeGreaterThanOrEqual(32);
      const tokens = createTokenService(secret, 60);
      const { token } = await tokens.sign({ userId: 'u1', orgId: 'o1', sessionId: 's1' });
      expect(await tokens.verify(token)).toMatchObject({ userId: 'u1', orgId: 'o1' });
      expect(
        await createTokenService(secret, -10)
          .sign({ userId: 'u1', orgId: 'o1', sessionId: 's1' })
          .then((signed) => tokens.verify(signed.token)),
      ).toBeNull();
      expect(await createTokenService(await loadTokenSecret('x'.repeat(32), dir), 60).verify(token)).toBeNull();
      expect(await tokens.verify('garbage')).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads bearer tokens from the Authorization header only in the Bearer form', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken(['bearer xyz'])).toBe('xyz');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});

describe('ws encoder', () => {
  it('sends shared events as the same JSON that tRPC would send, serializing each event once', () => {
    const event = { seq: 7, type: 'JOB_CREATED', data: { title: 'A "quoted" title' } };
    markShared(event as never);
    const stringify = JSON.stringify;
    let calls = 0;
    JSON.stringify = ((...args: Parameters<typeof stringify>) => {
      if (args[0] === event) calls++;
      return stringify(...args);
    }) as typeof JSON.stringify;
    try {
      // Built as tRPC's adapter builds it (type, data, then the tracked id): the bytes must be the same.
      for (const id of [1, 'two']) {
        const message = { id, jsonrpc: '2.0', result: { type: 'data', data: { id: '7', data: event }, id: '7' } };
        expect(wsEncoder.encode(message)).toBe(JSON.stringify(message));
      }
      const withoutJsonRpc = { id: 3, result: { type: 'data', data: { id: '7', data: event }, id: '7' } };
      expect(wsEncoder.encode(withoutJsonRpc)).toBe(JSON.stringify(withoutJsonRpc));
    } finally {
      JSON.stringify = stringify;
    }
    expect(calls).toBe(1);
    const plain = { id: 4, result: { type: 'data', data: { ok: true } } };
    expect(wsEncoder.encode(plain)).toBe(JSON.stringify(plain));
    expect(wsEncoder.decode('{"a":1}')).toEqual({ a: 1 });
  });
});
