import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/server/comms/webhooks.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let token: string;
beforeAll(async () => {
  t = await startTestServer({ perModule: 1, communications: true });
  token = await t.tokenFor('alice@acme.test');
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

interface Answer {
  status: number;
  message: string;
  fieldErrors: Record<string, string[]>;
  data: unknown;
}

/** One tRPC call over plain HTTP, as any client (or attacker) would make it. */
async function call(kind: 'query' | 'mutation', path: string, input: unknown): Promise<Answer> {
  const url = new URL(`${t.server.trpcUrl}/${path}`);
  if (kind === 'query') url.searchParams.set('input', JSON.stringify(input));
  const response = await fetch(url, {
    method: kind === 'query' ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(kind === 'mutation' ? { body: JSON.stringify(input) } : {}),
  });
  const body = (await response.json()) as {
    error?: { message: string; data?: { zodError?: { fieldErrors: Record<string, string[]> } } };
    result?: { data: unknown };
  };
  return { status: response.status, message: body.error?.message ?? '', fieldErrors: body.error?.data?.zodError?.fieldErrors ?? {}, data: body.result?.data };
}

const NUL = '\u0000';

describe('control characters in inputs', () => {
  it.each([
    ['mutation', 'jobs.create', { title: `Fix${NUL}the roof` }, 'title'],
    ['mutation', 'jobs.create', { title: 'Fix', notes: `a${NUL}b` }, 'notes'],
    ['mutation', 'clients.create', { firstName: 'Ann\nMarie', lastName: 'Lee' }, 'firstName'],
    ['mutation', 'leads.create', { name: 'Lead', source: 'web\u007f' }, 'source'],
    ['query', 'jobs.byId', { id: `job${NUL}` }, 'id'],
    ['query', 'escrows.list', { search: `10${NUL}0` }, 'search'],
    ['query', 'listings.list', { search: 'tab\there' }, 'search'],
    ['mutation', 'jobs.update', { id: `x${NUL}`, expectedVersion: 1, patch: { title: 'y' } }, 'id'],
    ['query', 'events.since', { lastEventId: '0', recordId: `r${NUL}` }, 'recordId'],
    ['query', 'conversations.byId', { id: `c${NUL}` }, 'id'],
    ['mutation', 'conversations.start', { phone: '+15550001111', body: `hi${NUL}` }, 'body'],
    ['mutation', 'presence.view', { module: 'jobs', recordId: `r${NUL}` }, 'recordId'],
    ['mutation', 'typing.start', { module: 'jobs', recordId: `r\u001b` }, 'recordId'],
    ['mutation', 'notifications.markRead', { ids: [`n${NUL}`] }, 'ids'],
  ] as const)('%s %s refuses %j with BAD_REQUEST naming the field', async (kind, path, input, field) => {
    const answer = await call(kind, path, input);
    expect(answer.status).toBe(400);
    expect(answer.message).toMatch(/control characters/);
    expect(answer.message).toContain(field);
    expect(answer.message).not.toMatch(/\.ts|prisma|invocation/i);
    if (path !== 'conversations.start' && path !== 'notifications.markRead') expect(answer.fieldErrors[field]?.join()).toMatch(/control characters/);
  });

  it('keeps tabs and line breaks in multi-line text (notes, message bodies)', async () => {
    const created = await call('mutation', 'jobs.create', { title: 'Roof', notes: 'line one\r\nline two\twith a tab' });
    expect(created.status).toBe(200);
    expect((created.data as { notes: string }).notes).toBe('line one\r\nline two\twith a tab');
    const conversation = await call('mutation', 'conversations.start', { phone: '+15550001111', body: 'Hello\nsecond line' });
    expect(conversation.status).toBe(200);
    expect((conversation.data as { message: { body: string } }).message.body).toBe('Hello\nsecond line');
  });
});

describe('the inbound SMS webhook', () => {
  it('keeps a message whose Body holds control characters, without them', async () => {
    const alice = await t.caller('alice@acme.test');
    const { numbers, secret } = await alice.webhooks.settings();
    const body = new URLSearchParams({ From: '+15557000123', To: numbers[0]!, Body: `Is it${NUL} still\u0007 available?\nThanks`, MessageSid: 'SMcontrol0000000001' }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await fetch(`${t.server.url}/webhooks/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-tandem-timestamp': timestamp, 'x-tandem-signature': signWebhook(secret!, timestamp, body) },
      body,
    });
    const answer = (await response.json()) as { ok: boolean; messageId: string };
    expect(response.status).toBe(200);
    const message = await t.deps.db.message.findUniqueOrThrow({ where: { id: answer.messageId } });
    expect(message.body).toBe('Is it still available?\nThanks');
  });
});
