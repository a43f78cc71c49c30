import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startProxy, type TestProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { startWhatsAppStandIn, type WhatsAppStandIn } from './helpers/whatsapp-standin.ts';

// Meta's WhatsApp Cloud API through its stand-in, on PGlite, PostgreSQL and two nodes.

const PHONE_NUMBER_ID = '106540352242922';
const ACCESS_TOKEN = `EAAG${'x1Y2'.repeat(12)}`;
const APP_SECRET = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const VERIFY_TOKEN = 'tandem-verify-7f3a';
const DISPLAY_NUMBER = '15551234567';

let t: TestServer;
let standIn: WhatsAppStandIn;
let publicProxy: TestProxy;
const webhookUrl = () => `${publicProxy.url}/webhooks/whatsapp`;

beforeAll(async () => {
  standIn = await startWhatsAppStandIn({ phoneNumbers: { [PHONE_NUMBER_ID]: ACCESS_TOKEN }, appSecret: APP_SECRET, displayPhoneNumber: DISPLAY_NUMBER, webhookDelayMs: 10 });
  publicProxy = await startProxy({ port: 1 });
  t = await startTestServer({
    perModule: 1,
    config: {
      PUBLIC_URL: publicProxy.url,
      WHATSAPP_GRAPH_URL: standIn.url,
      CARRIER_SEND_TIMEOUT_MS: 800,
      CARRIER_RECONCILE_MS: 2_000,
      OUTBOX_POLL_MS: 100,
      CARRIER_KEYS: [{ id: 'test', key: Buffer.alloc(32, 9) }],
    },
  });
  publicProxy.retarget({ port: Number(new URL(t.server.url).port) });
  standIn.setWebhook(webhookUrl());
  await (await t.caller('alice@acme.test')).carriers.connect({
    kind: 'whatsapp_cloud',
    phoneNumberId: PHONE_NUMBER_ID,
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    verifyToken: VERIFY_TOKEN,
  });
});
afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
  await publicProxy?.[Symbol.asyncDispose]();
  await standIn?.close();
});

let counter = 0;
/** A customer writes first (opening the 24-hour window); resolves with their conversation. */
async function customerWrites(body = `Hello ${++counter}`) {
  const from = `1555600${String(1000 + counter).padStart(4, '0')}`;
  const answer = await standIn.postSigned(webhookUrl(), standIn.inboundText(PHONE_NUMBER_ID, from, body, { name: 'Rosa Díaz' }));
  expect(answer.status).toBe(200);
  const conversation = await t.deps.db.conversation.findFirstOrThrow({ where: { contactPhone: `+${from}`, channel: 'whatsapp' } });
  return { conversation, from };
}

const statusOf = async (id: string) => (await t.deps.db.message.findUniqueOrThrow({ where: { id } })).status;

describe('WhatsApp Cloud API', () => {
  it("answers Meta's verification handshake only for a connected number's verify token", async () => {
    const handshake = (token: string) => fetch(`${webhookUrl()}?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=1158201444`);
    const good = await handshake(VERIFY_TOKEN);
    expect(good.status).toBe(200);
    expect(await good.text()).toBe('1158201444');
    expect((await handshake('not-the-token')).status).toBe(403);
  });

  it('takes an inbound message signed with the app secret once, however often Meta retries it, and refuses a forged one', async () => {
    const wamid = `wamid.test${Date.now()}`;
    const inbound = standIn.inboundText(PHONE_NUMBER_ID, '15556009999', 'Is the flat still free?', { id: wamid });
    expect((await standIn.postSigned(webhookUrl(), inbound)).status).toBe(200);
    expect((await standIn.postSigned(webhookUrl(), inbound)).status).toBe(200);
    const stored = await t.deps.db.message.findMany({ where: { providerSid: wamid } });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ direction: 'inbound', body: 'Is the flat still free?' });
    const before = await t.deps.db.message.count();
    const forged = await fetch(webhookUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      body: JSON.stringify(standIn.inboundText(PHONE_NUMBER_ID, '15556009998', 'forged')),
    });
    expect(forged.status).toBe(403);
    expect(await t.deps.db.message.count()).toBe(before);
  });

  it('sends a reply within the 24-hour window once, and moves it to delivered from the signed status webhooks', async () => {
    const { conversation, from } = await customerWrites();
    const bob = await t.caller('bob@acme.test');
    const message = await bob.messages.send({ conversationId: conversation.id, body: 'Yes, come by at five' });
    expect(message.status).toBe('queued');
    await vi.waitFor(async () => expect(await statusOf(message.id)).toBe('delivered'), { timeout: 5_000, interval: 20 });
    const sent = standIn.messages.filter((copy) => copy.body === 'Yes, come by at five');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ phoneNumberId: PHONE_NUMBER_ID, to: from, bizOpaqueCallbackData: message.id });
    expect((await t.deps.db.message.findUniqueOrThrow({ where: { id: message.id } })).providerSid).toBe(sent[0]!.id);
  });

  it('tells the agent at once when the 24-hour window is closed, and stores nothing', async () => {
    const bob = await t.caller('bob@acme.test');
    const before = await t.deps.db.message.count();
    await expect(bob.conversations.start({ channel: 'whatsapp', phone: '+15556001111', body: 'Hi there' })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringMatching(/approved template/),
    });
    const { conversation } = await customerWrites();
    await t.deps.db.message.updateMany({ where: { conversationId: conversation.id }, data: { createdAt: new Date(Date.now() - 25 * 3_600_000) } });
    await expect(bob.messages.send({ conversationId: conversation.id, body: 'Too late' })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringMatching(/24 hours after the customer's last message/),
    });
    expect(await t.deps.db.message.count()).toBe(before + 1);
  });

  it("fails a reply Meta refuses with Meta's reason, and settles a lost answer from the status webhook without sending again", async () => {
    const { conversation } = await customerWrites();
    const bob = await t.caller('bob@acme.test');
    standIn.failNext(1, { kind: 'status', status: 400, code: 131026, message: 'Message undeliverable' });
    const refused = await bob.messages.send({ conversationId: conversation.id, body: 'Refused one' });
    await vi.waitFor(async () => expect(await statusOf(refused.id)).toBe('failed'), { timeout: 5_000, interval: 20 });
    expect((await t.deps.db.message.findUniqueOrThrow({ where: { id: refused.id } })).failureReason).toMatch(/^WhatsApp 131026: /);

    standIn.failNext(1, { kind: 'hang-after-accept' });
    const lost = await bob.messages.send({ conversationId: conversation.id, body: 'Answer lost' });
    await vi.waitFor(async () => expect(await statusOf(lost.id)).toBe('delivered'), { timeout: 5_000, interval: 20 });
    await vi.waitFor(async () => expect(await t.deps.db.outboxMessage.findUniqueOrThrow({ where: { messageId: lost.id } })).toMatchObject({ state: 'done', attempts: 1 }), {
      timeout: 5_000,
      interval: 20,
    });
    expect(standIn.messages.filter((copy) => copy.body === 'Answer lost')).toHaveLength(1);
  });

  it('checks the number and token with Meta before connecting them', async () => {
    const before = await t.deps.db.carrier.count();
    await expect(
      (await t.caller('carol@globex.test')).carriers.connect({
        kind: 'whatsapp_cloud',
        phoneNumberId: PHONE_NUMBER_ID,
        accessToken: `EAAG${'wrong'.repeat(8)}`,
        appSecret: APP_SECRET,
        verifyToken: 'another-verify-token',
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/^Meta refused this phone number ID and access token \(\d+: /) });
    expect(await t.deps.db.carrier.count()).toBe(before);
  });

  it('refuses a body naming more than 20 phone numbers before looking any of them up', async () => {
    const many = {
      object: 'whatsapp_business_account',
      entry: Array.from({ length: 21 }, (_, i) => (standIn.inboundText(String(900_000 + i), '15556001000', 'x') as { entry: unknown[] }).entry[0]),
    };
    const answer = await standIn.postSigned(webhookUrl(), many);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('More than 20 phone numbers');
  });

  it('shows an admin the number and the end of its token, never the secrets', async () => {
    const [listed] = await (await t.caller('alice@acme.test')).carriers.list();
    expect(listed).toMatchObject({ kind: 'whatsapp_cloud', channels: ['whatsapp'], label: `phone number ID ${PHONE_NUMBER_ID} · token …${ACCESS_TOKEN.slice(-4)}` });
    expect(listed!.webhooks).toEqual({ whatsapp: webhookUrl() });
    const text = JSON.stringify(listed);
    for (const secret of [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN]) expect(text).not.toContain(secret);
  });

  it("keeps a customer's photo as a reference to Meta's media, and serves it to the org's users through the two-step download", async () => {
    const photo = Buffer.from([0x89, 0x50, 0x4e, 0x47, ...Buffer.from('a photo of the leak')]);
    const mediaId = standIn.addMedia('image/jpeg', photo);
    const from = '15556007777';
    expect((await standIn.postSigned(webhookUrl(), standIn.inboundMedia(PHONE_NUMBER_ID, from, 'image', mediaId, 'image/jpeg', 'The leak under the sink'))).status).toBe(200);
    const row = await t.deps.db.message.findFirstOrThrow({ where: { body: 'The leak under the sink' } });
    const [listed] = (await (await t.caller('bob@acme.test')).messages.list({ conversationId: row.conversationId })).items;
    expect(listed!.media).toEqual([{ contentType: 'image/jpeg', path: `/media/${row.id}/0` }]);
    const get = async (email: 'bob@acme.test' | 'carol@globex.test') =>
      fetch(`${t.server.url}${listed!.media[0]!.path}`, { headers: { authorization: `Bearer ${await t.tokenFor(email)}` } });
    const served = await get('bob@acme.test');
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(photo);
    const requests = standIn.mediaRequests;
    expect((await get('carol@globex.test')).status).toBe(404);
    expect(standIn.mediaRequests).toBe(requests);
  });

  it("holds at most 32 unsigned bodies at once: a stranger sending slowly gets 503s, not the server's memory", async () => {
    const { port } = new URL(t.server.url);
    const slow = await Promise.all(
      Array.from({ length: 32 }, () => {
        const socket = connect(Number(port), '127.0.0.1');
        return new Promise<Socket>((resolve) =>
          socket.once('connect', () => {
            // Headers and the start of a 1 MB body that never comes.
            socket.write(`POST /webhooks/whatsapp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{"object":`);
            resolve(socket);
          }),
        );
      }),
    );
    try {
      await vi.waitFor(
        async () => {
          const refused = await fetch(webhookUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
          expect(refused.status).toBe(503);
        },
        { timeout: 5_000, interval: 50 },
      );
    } finally {
      for (const socket of slow) socket.destroy();
    }
    // Once they are gone, a signed update goes through again.
    await vi.waitFor(async () => expect((await standIn.postSigned(webhookUrl(), standIn.inboundText(PHONE_NUMBER_ID, '15556001234', 'Back again'))).status).toBe(200), {
      timeout: 5_000,
      interval: 50,
    });
  });
});
