import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

async function eventCount(recordId: string) {
  return t.deps.db.event.count({ where: { recordId } });
}

describe('idempotent mutations', () => {
  it('return the first result for a repeated key, without applying again', async () => {
    const alice = await t.caller('alice@acme.test');
    const first = await alice.jobs.create({ title: 'Once', idempotencyKey: 'create-once-0001' });
    const again = await alice.jobs.create({ title: 'Once', idempotencyKey: 'create-once-0001' });
    expect(again).toEqual(first);
    expect(await t.deps.db.job.count({ where: { title: 'Once' } })).toBe(1);

    const updated = await alice.jobs.update({ id: first.id, expectedVersion: 1, patch: { status: 'done' }, idempotencyKey: 'update-once-0001' });
    // The retry carries the same stale-looking version: it gets the stored result, not a CONFLICT.
    expect(await alice.jobs.update({ id: first.id, expectedVersion: 1, patch: { status: 'done' }, idempotencyKey: 'update-once-0001' })).toEqual(updated);
    expect(await alice.jobs.delete({ id: first.id, idempotencyKey: 'delete-once-0001' })).toEqual({ id: first.id });
    expect(await alice.jobs.delete({ id: first.id, idempotencyKey: 'delete-once-0001' })).toEqual({ id: first.id });
    expect(await eventCount(first.id)).toBe(3);
  });

  it('refuse a key reused for a different request, and keep keys per user', async () => {
    const alice = await t.caller('alice@acme.test');
    const bob = await t.caller('bob@acme.test');
    await alice.leads.create({ name: 'Keyed', idempotencyKey: 'shared-key-0001' });
    await expect(alice.leads.create({ name: 'Other', idempotencyKey: 'shared-key-0001' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const bobs = await bob.leads.create({ name: 'Keyed', idempotencyKey: 'shared-key-0001' });
    expect(bobs.createdById).toBe(t.users['bob@acme.test'].id);
    expect(await t.deps.db.lead.count({ where: { name: 'Keyed' } })).toBe(2);
    await expect(alice.leads.create({ name: 'Bad key', idempotencyKey: 'no spaces!' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('store nothing when the mutation fails, so a retry runs it for real', async () => {
    const alice = await t.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Versioned' });
    await (await t.caller('bob@acme.test')).jobs.update({ id: job.id, expectedVersion: 1, patch: { title: 'v2' } });
    await expect(alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { title: 'x' }, idempotencyKey: 'failing-key-0001' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect(await t.deps.db.idempotencyKey.count({ where: { key: 'failing-key-0001' } })).toBe(0);
    const ok = await alice.jobs.update({ id: job.id, expectedVersion: 2, patch: { title: 'x' }, idempotencyKey: 'failing-key-0002' });
    expect(ok.version).toBe(3);
  });

  it('a mutation whose reply is lost is retried by the client link and applied exactly once', async () => {
    await using proxy = await startProxy(t.server);
    const client = await t.client('bob@acme.test', { url: proxy.url });
    await vi.waitFor(() => expect(client.connection.state).toBe('open'), { timeout: 5_000 });
    const dropped = proxy.dropReplyContaining('lost-reply-7d1f');
    const created = await client.trpc.jobs.create.mutate({ title: 'lost-reply-7d1f' });
    await dropped; // the first reply really was cut
    expect(created.title).toBe('lost-reply-7d1f');
    expect(await t.deps.db.job.count({ where: { title: 'lost-reply-7d1f' } })).toBe(1);
    expect(await eventCount(created.id)).toBe(1);
    expect(await t.deps.db.idempotencyKey.count({ where: { userId: t.users['bob@acme.test'].id } })).toBeGreaterThanOrEqual(1);
  });

  it('the client link gives every mutation its own key, and sign-in accepts one too', async () => {
    const client = await t.client('alice@acme.test');
    const a = await client.trpc.clients.create.mutate({ firstName: 'Same', lastName: 'Input' });
    const b = await client.trpc.clients.create.mutate({ firstName: 'Same', lastName: 'Input' });
    expect(a.id).not.toBe(b.id);
    const { createHttpClient } = await import('../src/client/trpc.ts');
    const login = await createHttpClient(t.server.url).auth.login.mutate({ email: 'carol@globex.test', password: 'demo1234', idempotencyKey: 'login-key-0001' });
    expect(login.user.email).toBe('carol@globex.test');
  });
});
