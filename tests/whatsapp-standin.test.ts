import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hubSignature, startWhatsAppStandIn, type WhatsAppStandIn } from './helpers/whatsapp-standin.ts';

const phoneNumberId = '106540352242922';
const accessToken = 'stand-in-access-token';
const appSecret = 'stand-in-app-secret';
const message = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '14155550100', type: 'text', text: { body: 'Hello from the stand-in' } };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function standIn(options: Partial<Parameters<typeof startWhatsAppStandIn>[0]> = {}): Promise<WhatsAppStandIn> {
  const started = await startWhatsAppStandIn({ phoneNumbers: { [phoneNumberId]: accessToken }, appSecret, ...options });
  cleanups.push(() => started.close());
  return started;
}

/** A send as the server under test makes it: plain fetch, Bearer token, JSON. */
function send(server: WhatsAppStandIn, body: unknown, options: { token?: string; id?: string; signal?: AbortSignal } = {}) {
  return fetch(`${server.url}/v21.0/${options.id ?? phoneNumberId}/messages`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${options.token ?? accessToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: options.signal ?? AbortSignal.timeout(2_000),
  });
}

function until(check: () => boolean, what: string) {
  return vi.waitFor(
    () => {
      if (!check()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: 5_000, interval: 10 },
  );
}

/** A webhook receiver on a random loopback port keeping the exact bytes; `answer` picks each request's status (by arrival, from 0). */
async function startReceiver(answer: (index: number) => number = () => 200) {
  const received: { raw: Buffer; signature: string; status: number }[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const status = answer(received.length);
    received.push({ raw: Buffer.concat(chunks), signature: String(req.headers['x-hub-signature-256']), status });
    res.writeHead(status, { 'Content-Type': 'text/plain' }).end('EVENT_RECEIVED');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/whatsapp`;
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url, received };
}

type StatusPayload = { entry: { changes: { field: string; value: { metadata: { phone_number_id: string }; statuses: Record<string, unknown>[] } }[] }[] };
const statusOf = (raw: Buffer) => (JSON.parse(raw.toString('utf8')) as StatusPayload).entry[0]!.changes[0]!.value.statuses[0]!;

describe('WhatsApp Cloud API stand-in', () => {
  it('accepts a send and answers with a wamid, recorded', async () => {
    const server = await standIn();
    const response = await send(server, { ...message, to: '+14155550100', biz_opaque_callback_data: 'msg-1' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { contacts: unknown[]; messages: { id: string }[] };
    expect(body).toEqual({ messaging_product: 'whatsapp', contacts: [{ input: '+14155550100', wa_id: '14155550100' }], messages: [{ id: expect.stringMatching(/^wamid\.HBg/) }] });
    expect(server.messages).toEqual([
      expect.objectContaining({ id: body.messages[0]!.id, phoneNumberId, to: '14155550100', type: 'text', body: message.text.body, bizOpaqueCallbackData: 'msg-1' }),
    ]);
    expect(server.sendRequests).toBe(1);
  });

  it("answers a bad token and a bad recipient with the Graph API's errors", async () => {
    const server = await standIn();
    const badToken = await send(server, message, { token: 'wrong' });
    expect(badToken.status).toBe(401);
    expect(await badToken.json()).toEqual({ error: expect.objectContaining({ type: 'OAuthException', code: 190, fbtrace_id: expect.any(String) }) });

    const badTo = await send(server, { ...message, to: '555-0100' });
    expect(badTo.status).toBe(400);
    expect(await badTo.json()).toMatchObject({ error: { code: 131009, message: '(#131009) Parameter value is not valid' } });

    const unknownId = await send(server, message, { id: '999' });
    expect(unknownId.status).toBe(400);
    expect(await unknownId.json()).toMatchObject({ error: { type: 'GraphMethodException', code: 100, error_subcode: 33 } });
    expect(server.messages).toEqual([]);
    expect(server.sendRequests).toBe(3);
  });

  it('injects a Graph 500 for the next send only', async () => {
    const server = await standIn();
    server.failNext(1, { kind: 'status', status: 500, code: 1, message: 'An unknown error occurred' });
    const failed = await send(server, message);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ error: { code: 1, message: 'An unknown error occurred' } });
    expect((await send(server, message)).status).toBe(200);
    expect(server.messages).toHaveLength(1);
  });

  it('hangs before accepting: the client times out and nothing is recorded', async () => {
    const server = await standIn();
    server.failNext(1, { kind: 'hang-before-accept' });
    await expect(send(server, message, { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(server.sendRequests).toBe(1);
    expect(server.messages).toEqual([]);
  });

  it('pushes status webhooks in order, signed over the exact bytes sent', async () => {
    const server = await standIn();
    const receiver = await startReceiver();
    server.setWebhook(receiver.url);
    server.setStatuses(['sent', 'delivered', 'read']);
    await send(server, { ...message, biz_opaque_callback_data: 'msg-1' });
    const wamid = server.messages[0]!.id;

    await until(() => server.webhooksDelivered.length === 3, 'three status webhooks');
    expect(receiver.received.map((r) => statusOf(r.raw).status)).toEqual(['sent', 'delivered', 'read']);
    for (const { raw, signature } of receiver.received) {
      expect(signature).toBe(hubSignature(appSecret, raw));
      expect(statusOf(raw)).toMatchObject({ id: wamid, recipient_id: '14155550100', biz_opaque_callback_data: 'msg-1', timestamp: expect.stringMatching(/^\d+$/) });
    }

    // Meta's serialization escapes `/` and non-ASCII: only the raw bytes verify.
    const inbound = server.inboundText(phoneNumberId, '14155550100', 'Olá 👋 https://example.com/x', { name: 'Ana' });
    expect(await server.postSigned(receiver.url, inbound)).toEqual({ status: 200, body: 'EVENT_RECEIVED' });
    const { raw, signature } = receiver.received.at(-1)!;
    expect(raw.toString('utf8')).toContain('Ol\\u00e1 \\ud83d\\udc4b https:\\/\\/example.com\\/x');
    expect(signature).toBe(hubSignature(appSecret, raw));
    expect(signature).not.toBe(hubSignature(appSecret, JSON.stringify(JSON.parse(raw.toString('utf8')))));
    expect(JSON.parse(raw.toString('utf8'))).toEqual(inbound);
  });

  it('retries a webhook answered with 503 and reports a failed status with its error', async () => {
    const server = await standIn({ webhookRetryDelayMs: 20 });
    const receiver = await startReceiver((index) => (index === 0 ? 503 : 200));
    server.setWebhook(receiver.url);
    server.setStatuses(['sent', 'failed']);
    await send(server, message);

    await until(() => server.webhooksDelivered.length === 3, 'both webhooks (one retried)');
    expect(receiver.received.map((r) => [statusOf(r.raw).status, r.status])).toEqual([
      ['sent', 503],
      ['sent', 200],
      ['failed', 200],
    ]);
    expect(statusOf(receiver.received[2]!.raw)).toMatchObject({ errors: [{ code: 131026 }] });
  });

  it('hangs after accepting: the message is recorded, and close() ends the hung request promptly', async () => {
    const server = await startWhatsAppStandIn({ phoneNumbers: { [phoneNumberId]: accessToken }, appSecret });
    try {
      server.failNext(1, { kind: 'hang-after-accept' });
      const pending = send(server, message, { signal: AbortSignal.timeout(10_000) }).catch((caught: unknown) => caught);
      await until(() => server.messages.length === 1, 'the message to be accepted');
      const started = Date.now();
      await server.close();
      expect(await pending).toBeInstanceOf(TypeError);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await server.close();
    }
  });
});
