import { randomBytes } from 'node:crypto';
import type { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pruneUnsentUploads, UNSENT_UPLOAD_TTL_MS } from '../src/server/comms/uploads.ts';
import { MAX_UPLOAD_BYTES, type UploadedFile } from '../src/shared/uploads.ts';
import type { DemoEmail } from './helpers/app.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { startTwilioStandIn, type TwilioStandIn } from './helpers/twilio-standin.ts';
import { startWhatsAppStandIn, type WhatsAppStandIn } from './helpers/whatsapp-standin.ts';

// Files an agent attaches to a reply: uploaded, sent through Twilio (MediaUrl) and WhatsApp
// (a link), each carrier fetching them from the public link as the real ones do. On PGlite,
// PostgreSQL and two nodes (the files are rows, so every node serves them).

const ACCOUNT = `AC${'3c'.repeat(16)}`;
const TOKEN = '99887766554433221100ffeeddccbbaa';
const PHONE_NUMBER_ID = '106540352242922';
const ACCESS_TOKEN = `EAAG${'z9Q8'.repeat(12)}`;
const APP_SECRET = '1b2c3d4e5f60718293a4b5c6d7e8f90a';

let t: TestServer;
let twilio: TwilioStandIn;
let whatsapp: WhatsAppStandIn;
let publicProxy: TestProxy;
const webhookUrl = () => `${publicProxy.url}/webhooks/whatsapp`;

beforeAll(async () => {
  twilio = await startTwilioStandIn({ accounts: { [ACCOUNT]: TOKEN }, callbackDelayMs: 10 });
  whatsapp = await startWhatsAppStandIn({ phoneNumbers: { [PHONE_NUMBER_ID]: ACCESS_TOKEN }, appSecret: APP_SECRET, displayPhoneNumber: '15551234567', webhookDelayMs: 10 });
  publicProxy = await startProxy({ port: 1 });
  t = await startTestServer({
    perModule: 1,
    config: {
      PUBLIC_URL: publicProxy.url,
      TWILIO_API_URL: twilio.url,
      WHATSAPP_GRAPH_URL: whatsapp.url,
      CARRIER_SEND_TIMEOUT_MS: 800,
      CARRIER_RECONCILE_MS: 2_000,
      OUTBOX_POLL_MS: 100,
      CARRIER_KEYS: [{ id: 'test', key: Buffer.alloc(32, 5) }],
      // Small, so that a test can reach it; the other tests' files are a few bytes.
      ORG_FILES_QUOTA_MB: 3,
    },
  });
  publicProxy.retarget({ port: Number(new URL(t.server.url).port) });
  whatsapp.setWebhook(webhookUrl());
  await (await t.caller('alice@acme.test')).carriers.connect({ kind: 'twilio', accountSid: ACCOUNT, authToken: TOKEN, channels: ['sms'] });
  await (await t.caller('carol@globex.test')).carriers.connect({
    kind: 'whatsapp_cloud',
    phoneNumberId: PHONE_NUMBER_ID,
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    verifyToken: 'verify-attachments',
  });
});
afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
  await publicProxy?.[Symbol.asyncDispose]();
  await twilio?.close();
  await whatsapp?.close();
});

/** A small valid PNG (1 × 1) with random bytes after it, so each file is told apart. */
const png = () =>
  Buffer.concat([
    Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4f50000000049454e44ae426082', 'hex'),
    randomBytes(16),
  ]);

async function upload(email: DemoEmail | null, bytes: Buffer, contentType: string, name = 'photo.png'): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (email) headers.authorization = `Bearer ${await t.tokenFor(email)}`;
  return fetch(`${t.server.url}/uploads?name=${encodeURIComponent(name)}`, { method: 'POST', headers, body: new Uint8Array(bytes) });
}

async function uploaded(email: DemoEmail, bytes: Buffer, contentType: string, name?: string): Promise<UploadedFile> {
  const answer = await upload(email, bytes, contentType, name);
  expect(answer.status).toBe(201);
  return (await answer.json()) as UploadedFile;
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: TRPCError) => ({ code: error.code, message: error.message }),
  );

let counter = 0;
const phone = () => `+1555800${String(1000 + ++counter).padStart(4, '0')}`;

describe('attachments', () => {
  it('takes a file of a type the carriers take from a signed-in user, and refuses anything else plainly', async () => {
    const file = await uploaded('bob@acme.test', png(), 'image/png', 'C:\\Users\\bob\\Site "plan".png');
    expect(file).toEqual({ id: expect.any(String), name: 'Site plan.png', contentType: 'image/png', size: expect.any(Number) });

    expect((await upload(null, png(), 'image/png')).status).toBe(401);
    const html = await upload('bob@acme.test', Buffer.from('<script>alert(1)</script>'), 'text/html');
    expect(html.status).toBe(415);
    expect(((await html.json()) as { error: string }).error).toMatch(/^Not a type the carriers take/);
    expect((await upload('bob@acme.test', Buffer.alloc(0), 'image/png')).status).toBe(400);
    // Too large whether it says so up front or not (a chunked body).
    expect((await upload('bob@acme.test', Buffer.alloc(MAX_UPLOAD_BYTES + 1), 'application/pdf')).status).toBe(413);
    const chunked = await fetch(`${t.server.url}/uploads?name=big.pdf`, {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', authorization: `Bearer ${await t.tokenFor('bob@acme.test')}` },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 6; i++) controller.enqueue(new Uint8Array(1024 * 1024));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    // Nothing of the refused ones was kept.
    expect(await t.deps.db.upload.count({ where: { name: { in: ['big.pdf'] } } })).toBe(0);
  });

  it('sends files by SMS through Twilio, which fetches them from their public link, and shows them in the thread', async () => {
    const bob = await t.caller('bob@acme.test');
    const photo = png();
    const pdf = Buffer.from('%PDF-1.4\n% a quote\n');
    const first = await uploaded('bob@acme.test', photo, 'image/png', 'kitchen.png');
    const second = await uploaded('bob@acme.test', pdf, 'application/pdf', 'Quote 42.pdf');
    const to = phone();
    const { conversation } = await bob.conversations.start({ channel: 'sms', phone: to, body: 'Hello' });
    const message = await bob.messages.send({ conversationId: conversation.id, body: 'The photo and the quote', attachments: [first.id, second.id] });
    expect(message.status).toBe('queued');
    expect(message.media).toEqual([
      { contentType: 'image/png', path: `/media/${message.id}/0`, name: 'kitchen.png', size: photo.length },
      { contentType: 'application/pdf', path: `/media/${message.id}/1`, name: 'Quote 42.pdf', size: pdf.length },
    ]);
    await vi.waitFor(() => expect(twilio.messages.find((m) => m.to === to && m.body === 'The photo and the quote')).toBeDefined(), { timeout: 10_000, interval: 50 });
    const sent = twilio.messages.find((m) => m.to === to && m.body === 'The photo and the quote')!;
    expect(sent.mediaUrls).toHaveLength(2);
    // Twilio fetches them without credentials, from the public address.
    for (const [index, url] of sent.mediaUrls.entries()) {
      expect(url.startsWith(`${publicProxy.url}/files/`)).toBe(true);
      const fetched = await fetch(url);
      expect(fetched.status).toBe(200);
      expect(fetched.headers.get('content-type')).toBe(index === 0 ? 'image/png' : 'application/pdf');
      expect(fetched.headers.get('x-content-type-options')).toBe('nosniff');
      expect(Buffer.from(await fetched.arrayBuffer())).toEqual(index === 0 ? photo : pdf);
    }
    // A wrong secret is a missing file.
    const wrong = sent.mediaUrls[0]!.replace(/\/[A-Za-z0-9_-]{43}$/, `/${'A'.repeat(43)}`);
    expect((await fetch(wrong)).status).toBe(404);

    // In the thread: the org's users open them with their token; another org's cannot.
    const get = async (path: string, email: DemoEmail) => fetch(`${t.server.url}${path}`, { headers: { authorization: `Bearer ${await t.tokenFor(email)}` } });
    const shown = await get(message.media[1]!.path, 'alice@acme.test');
    expect(shown.status).toBe(200);
    expect(shown.headers.get('content-disposition')).toBe(`attachment; filename*=UTF-8''${encodeURIComponent('Quote 42.pdf')}`);
    expect(Buffer.from(await shown.arrayBuffer())).toEqual(pdf);
    expect((await get(message.media[0]!.path, 'carol@globex.test')).status).toBe(404);
    const [listed] = (await bob.messages.list({ conversationId: conversation.id, limit: 50 })).items.filter((m) => m.id === message.id);
    expect(listed?.media.map((item) => item.name)).toEqual(['kitchen.png', 'Quote 42.pdf']);
    expect((await bob.conversations.byId({ id: conversation.id })).lastMessagePreview).toBe('The photo and the quote');
  });

  it('sends a file alone, and never the same upload twice; a retried send with its key is the same message', async () => {
    const bob = await t.caller('bob@acme.test');
    const to = phone();
    const { conversation } = await bob.conversations.start({ channel: 'sms', phone: to, body: 'Hi' });
    const file = await uploaded('bob@acme.test', png(), 'image/png');
    const input = { conversationId: conversation.id, body: '', attachments: [file.id], idempotencyKey: `attach-${Date.now()}` };
    const message = await bob.messages.send(input);
    expect((await bob.messages.send(input)).id).toBe(message.id);
    expect((await bob.conversations.byId({ id: conversation.id })).lastMessagePreview).toBe('📎 Attachment');
    await vi.waitFor(() => expect(twilio.messages.filter((m) => m.to === to && m.mediaUrls.length === 1)).toHaveLength(1), { timeout: 10_000, interval: 50 });
    expect(twilio.messages.find((m) => m.to === to && m.mediaUrls.length === 1)?.body).toBe('');

    expect(await refusal(bob.messages.send({ conversationId: conversation.id, body: 'Again', attachments: [file.id] }))).toEqual({
      code: 'BAD_REQUEST',
      message: `attachments: No file of yours waiting to be sent with id ${file.id}`,
    });
    expect(await refusal(bob.messages.send({ conversationId: conversation.id, body: '' }))).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('The message is empty'),
    });
  });

  it("attaches only the sender's own unsent files: not another agent's, not another org's, and refuses the whole message", async () => {
    const bob = await t.caller('bob@acme.test');
    const { conversation } = await bob.conversations.start({ channel: 'sms', phone: phone(), body: 'Hi' });
    const mine = await uploaded('bob@acme.test', png(), 'image/png');
    const alices = await uploaded('alice@acme.test', png(), 'image/png');
    const carols = await uploaded('carol@globex.test', png(), 'image/png');
    const before = await t.deps.db.message.count({ where: { conversationId: conversation.id } });
    for (const other of [alices, carols]) {
      expect(await refusal(bob.messages.send({ conversationId: conversation.id, body: 'Look', attachments: [mine.id, other.id] }))).toEqual({
        code: 'BAD_REQUEST',
        message: `attachments: No file of yours waiting to be sent with id ${other.id}`,
      });
    }
    expect(await refusal(bob.messages.send({ conversationId: conversation.id, body: 'Twice', attachments: [mine.id, mine.id] }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await t.deps.db.message.count({ where: { conversationId: conversation.id } })).toBe(before);
    expect(await t.deps.db.upload.count({ where: { id: { in: [mine.id, alices.id, carols.id] }, messageId: null } })).toBe(3);

    // The uploader takes one back; nobody else can.
    const remove = async (id: string, email: DemoEmail) =>
      (await fetch(`${t.server.url}/uploads/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${await t.tokenFor(email)}` } })).status;
    expect(await remove(mine.id, 'alice@acme.test')).toBe(404);
    expect(await remove(mine.id, 'bob@acme.test')).toBe(204);
    expect(await t.deps.db.upload.count({ where: { id: mine.id } })).toBe(0);
  });

  it('sends a photo by WhatsApp as an image with its caption, a document under its name, and one file per message', async () => {
    const carol = await t.caller('carol@globex.test');
    const from = `1555900${String(1000 + ++counter).padStart(4, '0')}`;
    expect((await whatsapp.postSigned(webhookUrl(), whatsapp.inboundText(PHONE_NUMBER_ID, from, 'Can you send the invoice?'))).status).toBe(200);
    const conversation = await t.deps.db.conversation.findFirstOrThrow({ where: { contactPhone: `+${from}`, channel: 'whatsapp' } });
    const photo = png();
    const image = await uploaded('carol@globex.test', photo, 'image/png', 'unit.png');
    const invoice = await uploaded('carol@globex.test', Buffer.from('%PDF-1.4 invoice'), 'application/pdf', 'Invoice 7.pdf');
    expect(await refusal(carol.messages.send({ conversationId: conversation.id, body: 'Both', attachments: [image.id, invoice.id] }))).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('WhatsApp takes 1 file per message'),
    });
    await carol.messages.send({ conversationId: conversation.id, body: 'The unit', attachments: [image.id] });
    await carol.messages.send({ conversationId: conversation.id, body: '', attachments: [invoice.id] });
    await vi.waitFor(() => expect(whatsapp.messages.filter((m) => m.to === from)).toHaveLength(2), { timeout: 10_000, interval: 50 });
    const [first, second] = whatsapp.messages.filter((m) => m.to === from);
    expect(first).toMatchObject({ type: 'image', body: 'The unit', media: { filename: null } });
    expect(second).toMatchObject({ type: 'document', body: '', media: { filename: 'Invoice 7.pdf' } });
    const fetched = await first!.media!.fetched;
    expect(fetched).toMatchObject({ status: 200, contentType: 'image/png' });
    expect(fetched.bytes).toEqual(photo);
    expect((await second!.media!.fetched).status).toBe(200);
  });

  it('keeps at most 50 unsent files per org, and clears unsent ones after a day; sent ones stay', async () => {
    const org = (await t.deps.db.user.findFirstOrThrow({ where: { email: 'carol@globex.test' } })).orgId;
    const unsent = await t.deps.db.upload.count({ where: { orgId: org, messageId: null } });
    for (let i = unsent; i < 50; i++) await uploaded('carol@globex.test', Buffer.from(`note ${i}`), 'text/plain', `n${i}.txt`);
    const refused = await upload('carol@globex.test', Buffer.from('one more'), 'text/plain');
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: string }).error).toMatch(/50 files uploaded and not sent/);
    // Another org is not held back by this one.
    await uploaded('bob@acme.test', Buffer.from('acme note'), 'text/plain');

    const sent = await t.deps.db.upload.count({ where: { messageId: { not: null } } });
    expect(sent).toBeGreaterThan(0);
    expect(await pruneUnsentUploads(t.deps.db, new Date(Date.now() + UNSENT_UPLOAD_TTL_MS - 60_000))).toBe(0);
    expect(await pruneUnsentUploads(t.deps.db, new Date(Date.now() + UNSENT_UPLOAD_TTL_MS + 60_000))).toBeGreaterThanOrEqual(51);
    expect(await t.deps.db.upload.count({ where: { messageId: null } })).toBe(0);
    expect(await t.deps.db.upload.count({ where: { messageId: { not: null } } })).toBe(sent);
    await uploaded('carol@globex.test', Buffer.from('room again'), 'text/plain');
  });

  it("refuses a file past the disk the org's files may take, saying how much they take; another org is not held back", async () => {
    const big = () => Buffer.alloc(1024 * 1024 + 1, 7);
    const first = await uploaded('carol@globex.test', big(), 'application/pdf', 'one.pdf');
    const second = await uploaded('carol@globex.test', big(), 'application/pdf', 'two.pdf');
    const refused = await upload('carol@globex.test', big(), 'application/pdf', 'three.pdf');
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: string }).error).toMatch(/^Your team's files take 2 MB of the 3 MB it may keep/);
    await uploaded('bob@acme.test', big(), 'application/pdf', 'acme.pdf');
    // Taking one back makes room again.
    const remove = await fetch(`${t.server.url}/uploads/${first.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${await t.tokenFor('carol@globex.test')}` } });
    expect(remove.status).toBe(204);
    await uploaded('carol@globex.test', big(), 'application/pdf', 'three.pdf');
    expect(second.size).toBe(1024 * 1024 + 1);
  });
});
