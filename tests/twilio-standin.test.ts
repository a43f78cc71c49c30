import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTwilioClient } from '../src/server/carriers/twilio-client.ts';
import { startTwilioStandIn, twilioSignature, type TwilioStandIn } from './helpers/twilio-standin.ts';

const accountSid = `AC${'0123456789abcdef'.repeat(2)}`;
const authToken = 'stand-in-auth-token';
const message = { to: '+14155550100', from: '+14155550199', body: 'Hello from the stand-in' };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function standIn(options: Partial<Parameters<typeof startTwilioStandIn>[0]> = {}): Promise<TwilioStandIn> {
  const started = await startTwilioStandIn({ accounts: { [accountSid]: authToken }, ...options });
  cleanups.push(() => started.close());
  return started;
}

const clientOf = (server: TwilioStandIn, options: { authToken?: string; timeoutMs?: number } = {}) =>
  createTwilioClient({ accountSid, authToken: options.authToken ?? authToken }, { apiUrl: server.url, timeoutMs: options.timeoutMs ?? 2000 });

/** Waits for `check` to hold, as the rest of the suite does (vitest's `vi.waitFor`). */
function until(check: () => boolean, what: string) {
  return vi.waitFor(
    () => {
      if (!check()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: 5_000, interval: 10 },
  );
}

/** A webhook receiver on a random loopback port; `answer` picks each request's status (by arrival, from 0). */
async function startReceiver(answer: (index: number) => number = () => 200) {
  const received: { url: string; params: Record<string, string>; signature: string }[] = [];
  let count = 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const status = answer(count++);
    if (status < 500) {
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      received.push({ url: `${url}${req.url}`, params, signature: String(req.headers['x-twilio-signature']) });
    }
    res.writeHead(status, { 'Content-Type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url, received };
}

describe('Twilio stand-in', () => {
  it('signs as Twilio documents (its published test vector)', () => {
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
    expect(twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('accepts a message from the real client and posts its status callbacks in order, signed', async () => {
    const server = await standIn();
    const receiver = await startReceiver();
    const statusCallback = `${receiver.url}/webhooks/twilio/status?tenant=1`;
    const client = clientOf(server);

    const created = await client.messages.create({ ...message, statusCallback });
    expect(created.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(created.status).toBe('queued');
    expect(created.accountSid).toBe(accountSid);
    expect(created.dateCreated).toBeInstanceOf(Date);
    expect(server.messages).toEqual([expect.objectContaining({ sid: created.sid, ...message, statusCallback, mediaUrls: [] })]);

    // The stand-in records a callback once its answer is back, just after the receiver saw it.
    await until(() => server.callbacksDelivered.length === 2, 'two status callbacks');
    expect(receiver.received.map((r) => r.params.MessageStatus)).toEqual(['sent', 'delivered']);
    for (const { url, params, signature } of receiver.received) {
      expect(url).toBe(statusCallback);
      expect(params).toMatchObject({ MessageSid: created.sid, SmsSid: created.sid, AccountSid: accountSid, ApiVersion: '2010-04-01', To: message.to, From: message.from });
      expect(twilio.validateRequest(authToken, signature, url, params)).toBe(true);
    }
    expect(server.callbacksDelivered.map((c) => c.status)).toEqual([200, 200]);

    const fetched = await client.messages(created.sid).fetch();
    expect(fetched.status).toBe('delivered');

    const posted = await server.postSigned(accountSid, `${receiver.url}/webhooks/twilio/inbound`, { From: message.to, Body: 'Hi' });
    expect(posted).toEqual({ status: 200, body: 'ok', contentType: 'text/plain' });
    const inbound = receiver.received.at(-1)!;
    expect(twilio.validateRequest(authToken, inbound.signature, inbound.url, inbound.params)).toBe(true);
  });

  it("answers invalid requests and bad credentials with Twilio's errors, as RestException", async () => {
    const server = await standIn();
    const invalidTo = await clientOf(server)
      .messages.create({ ...message, to: '555-0100' })
      .catch((error: unknown) => error);
    expect(invalidTo).toBeInstanceOf(twilio.RestException);
    expect(invalidTo).toMatchObject({ status: 400, code: 21211 });

    const badAuth = await clientOf(server, { authToken: 'wrong' })
      .messages.create(message)
      .catch((error: unknown) => error);
    expect(badAuth).toBeInstanceOf(twilio.RestException);
    expect(badAuth).toMatchObject({ status: 401, code: 20003, message: 'Authenticate' });
    expect(server.messages).toEqual([]);
    expect(server.createRequests).toBe(2);
  });

  it('injects a 503 for the next create only', async () => {
    const server = await standIn();
    const client = clientOf(server);
    server.failNext(1, { kind: 'status', status: 503 });
    await expect(client.messages.create(message)).rejects.toMatchObject({ status: 503 });
    await expect(client.messages.create(message)).resolves.toMatchObject({ status: 'queued' });
    expect(server.createRequests).toBe(2);
    expect(server.messages).toHaveLength(1);
  });

  it('hangs before accepting: the client times out and nothing is recorded', async () => {
    const server = await standIn();
    server.failNext(1, { kind: 'hang-before-accept' });
    const error = await clientOf(server, { timeoutMs: 200 })
      .messages.create(message)
      .catch((caught: unknown) => caught);
    // The client's own timeout (axios underneath): not a RestException, no HTTP status.
    expect(error).toMatchObject({ code: 'ECONNABORTED', message: 'timeout of 200ms exceeded' });
    expect(server.createRequests).toBe(1);
    expect(server.messages).toEqual([]);
  });

  it('accepts then resets the connection: the client fails, the message was sent and its callbacks still come', async () => {
    const server = await standIn();
    const receiver = await startReceiver();
    server.failNext(1, { kind: 'reset-after-accept' });
    const error = await clientOf(server)
      .messages.create({ ...message, statusCallback: `${receiver.url}/status` })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ECONNRESET' });
    expect(server.messages).toHaveLength(1);
    await until(() => receiver.received.length === 2, 'callbacks of the accepted message');
    expect(receiver.received.map((r) => r.params.MessageSid)).toEqual([server.messages[0]!.sid, server.messages[0]!.sid]);
  });

  it('hangs after accepting: the message is recorded, and close() ends the hung request promptly', async () => {
    const server = await startTwilioStandIn({ accounts: { [accountSid]: authToken } });
    try {
      server.failNext(1, { kind: 'hang-after-accept' });
      const pending = clientOf(server, { timeoutMs: 10_000 })
        .messages.create(message)
        .catch((caught: unknown) => caught);
      await until(() => server.messages.length === 1, 'the message to be accepted');
      const started = Date.now();
      await server.close();
      expect(await pending).toMatchObject({ code: 'ECONNRESET' });
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await server.close();
    }
  });

  it('holds callbacks while paused and retries a callback answered with 5xx', async () => {
    const server = await standIn({ callbackRetryDelayMs: 20 });
    const receiver = await startReceiver((index) => (index === 0 ? 503 : 200));
    server.setCallbackStatuses(['sent', 'undelivered']);
    server.pauseCallbacks();
    await clientOf(server).messages.create({ ...message, statusCallback: `${receiver.url}/status` });
    // Unpaused, the first callback would go out 20 ms after acceptance: five times that and still nothing.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.callbacksDelivered).toEqual([]);

    server.resumeCallbacks();
    await until(() => server.callbacksDelivered.length === 3, 'both callbacks (one retried) after resuming');
    expect(server.callbacksDelivered.map((c) => [c.params.MessageStatus, c.status])).toEqual([
      ['sent', 503],
      ['sent', 200],
      ['undelivered', 200],
    ]);
    expect(receiver.received[1]!.params).toMatchObject({ MessageStatus: 'undelivered', ErrorCode: '30003' });
  });
});
