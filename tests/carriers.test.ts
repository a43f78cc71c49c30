import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../src/shared/comms.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { startTwilioStandIn, type TwilioStandIn } from './helpers/twilio-standin.ts';

// Runs on PGlite, on PostgreSQL, and on two nodes sharing it (the `multinode` project):
// there both nodes' outboxes claim from one table, and no message may leave twice.

const ACCOUNT = `AC${'1a'.repeat(16)}`;
const TOKEN = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
const OTHER_ACCOUNT = `AC${'2b'.repeat(16)}`;
const OTHER_TOKEN = '00112233445566778899aabbccddeeff';
const FORWARD_TO = '+15550001111';
/** Short, so that an attempt of unknown outcome is retried within a test. */
const RECONCILE_MS = 2_000;

let t: TestServer;
let standIn: TwilioStandIn;
let publicProxy: TestProxy;
let acmeNumber: string;
let globexNumber: string;

beforeAll(async () => {
  standIn = await startTwilioStandIn({ accounts: { [ACCOUNT]: TOKEN, [OTHER_ACCOUNT]: OTHER_TOKEN }, callbackDelayMs: 10 });
  // Twilio calls the public URL: a proxy in front of the first node, known before the server starts.
  publicProxy = await startProxy({ port: 1 });
  t = await startTestServer({
    perModule: 2,
    communications: true,
    config: {
      PUBLIC_URL: publicProxy.url,
      TWILIO_API_URL: standIn.url,
      CARRIER_SEND_TIMEOUT_MS: 800,
      CARRIER_RECONCILE_MS: RECONCILE_MS,
      OUTBOX_POLL_MS: 100,
      // One key for every node, as a deployment of several nodes must have.
      CARRIER_KEYS: [{ id: 'test', key: Buffer.alloc(32, 7) }],
    },
  });
  publicProxy.retarget({ port: Number(new URL(t.server.url).port) });
  acmeNumber = (await (await t.caller('alice@acme.test')).webhooks.settings()).numbers[0]!;
  globexNumber = (await (await t.caller('carol@globex.test')).webhooks.settings()).numbers[0]!;
  await (await t.caller('alice@acme.test')).carriers.connect({
    kind: 'twilio',
    accountSid: ACCOUNT,
    authToken: TOKEN,
    channels: ['sms', 'whatsapp'],
    forwardTo: FORWARD_TO,
  });
});
afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
  await publicProxy?.[Symbol.asyncDispose]();
  await standIn?.close();
});
beforeEach(() => standIn.setCallbackStatuses(['sent', 'delivered']));

let counter = 0;
/** A reply in a new conversation of Acme's with a number of its own; the body is unique, so the stand-in's copies can be counted. */
async function reply(body = `Reply ${++counter} ${Date.now()}`) {
  const bob = await t.caller('bob@acme.test');
  const phone = `+1555${String(3_000_000 + counter).padStart(7, '0')}`;
  const { message } = await bob.conversations.start({ channel: 'sms', phone, body });
  return { message, phone, body };
}

async function messageOf(id: string): Promise<Message> {
  const row = await t.deps.db.message.findUniqueOrThrow({ where: { id } });
  return { ...row, status: row.status } as unknown as Message;
}

const copiesAtTwilio = (body: string) => standIn.messages.filter((message) => message.body === body).length;

describe('carriers.connect / list / disconnect', () => {
  it('shows an admin the account and the end of its token, never the token, and seals it at rest', async () => {
    const listed = await (await t.caller('alice@acme.test')).carriers.list();
    expect(listed).toEqual([
      expect.objectContaining({ kind: 'twilio', channels: ['sms', 'whatsapp'], label: `${ACCOUNT.slice(0, 6)}…${ACCOUNT.slice(-4)} · token …${TOKEN.slice(-4)}` }),
    ]);
    expect(JSON.stringify(listed)).not.toContain(TOKEN);
    expect(listed[0]!.webhooks).toEqual({
      sms: `${publicProxy.url}/webhooks/twilio/sms`,
      status: `${publicProxy.url}/webhooks/twilio/status`,
      voice: `${publicProxy.url}/webhooks/twilio/voice`,
    });
    expect(listed[0]!.forwardTo).toBe(FORWARD_TO);
    const row = await t.deps.db.carrier.findFirstOrThrow({ where: { id: listed[0]!.id } });
    expect(row.secret).not.toContain(TOKEN);
    expect(row.secret).not.toContain(Buffer.from(TOKEN).toString('base64'));
  });

  it('refuses agents, other orgs and malformed accounts, and changes nothing', async () => {
    const before = await t.deps.db.carrier.count();
    const bob = await t.caller('bob@acme.test');
    await expect(bob.carriers.list()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(bob.carriers.connect({ kind: 'twilio', accountSid: ACCOUNT, authToken: TOKEN })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const carol = await t.caller('carol@globex.test');
    expect(await carol.carriers.list()).toEqual([]);
    const acmeCarrier = (await (await t.caller('alice@acme.test')).carriers.list())[0]!;
    await expect(carol.carriers.disconnect({ id: acmeCarrier.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const alice = await t.caller('alice@acme.test');
    await expect(alice.carriers.connect({ kind: 'twilio', accountSid: 'AC123', authToken: TOKEN } as never)).rejects.toThrow(/Account SID/);
    await expect(alice.carriers.connect({ kind: 'twilio', accountSid: ACCOUNT, authToken: 'secret' } as never)).rejects.toThrow(/Auth Token/);
    await expect(alice.carriers.connect({ kind: 'smoke-signals', accountSid: ACCOUNT } as never)).rejects.toBeInstanceOf(TRPCError);
    expect(await t.deps.db.carrier.count()).toBe(before);
  });

  it('checks the account with Twilio before connecting it: a wrong token is said now, and nothing changes', async () => {
    const before = await t.deps.db.carrier.count();
    const carol = await t.caller('carol@globex.test');
    await expect(carol.carriers.connect({ kind: 'twilio', accountSid: ACCOUNT, authToken: 'deadbeefdeadbeefdeadbeefdeadbeef' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'Twilio refused this Account SID and Auth Token (20003: Authenticate)',
    });
    expect(await t.deps.db.carrier.count()).toBe(before);
  });

  it('connects once when a connect is retried with its key (the client link retries a lost answer), and refuses the key for another account', async () => {
    const carol = await t.caller('carol@globex.test');
    const before = await t.deps.db.carrier.count();
    const input = { kind: 'twilio' as const, accountSid: OTHER_ACCOUNT, authToken: OTHER_TOKEN, channels: ['whatsapp' as const], idempotencyKey: `connect-${Date.now()}` };
    const [first, again] = await Promise.all([carol.carriers.connect(input), carol.carriers.connect(input)]);
    expect(again).toEqual(first);
    expect(await carol.carriers.connect(input)).toEqual(first);
    expect(await t.deps.db.carrier.count()).toBe(before + 1);
    expect((await carol.carriers.list()).map((carrier) => carrier.id)).toEqual([first.id]);
    await expect(carol.carriers.connect({ ...input, channels: ['sms'] })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('idempotencyKey') });
    await carol.carriers.disconnect({ id: first.id });
    expect(await carol.carriers.list()).toEqual([]);
  });
});

describe('numbers.list / create / delete', () => {
  it("an admin adds the org's Twilio number, and a message to it reaches the org", async () => {
    const alice = await t.caller('alice@acme.test');
    expect(await alice.numbers.create({ number: '+1 (555) 010-4242' })).toEqual({ number: '+15550104242' });
    expect(await alice.numbers.list()).toContain('+15550104242');
    const sid = `SM${Date.now()}newnumber`;
    const answer = await standIn.postSigned(ACCOUNT, `${publicProxy.url}/webhooks/twilio/sms`, {
      AccountSid: ACCOUNT,
      MessageSid: sid,
      From: '+15557770009',
      To: '+15550104242',
      Body: 'To the new number',
    });
    expect(answer.status).toBe(200);
    expect(await t.deps.db.message.count({ where: { providerSid: sid } })).toBe(1);
    expect(await alice.numbers.delete({ number: '+15550104242' })).toEqual({ number: '+15550104242', deleted: true });
    expect(await alice.numbers.list()).not.toContain('+15550104242');
  });

  it("refuses agents, another org's number (without saying whose), and a malformed one", async () => {
    await expect((await t.caller('bob@acme.test')).numbers.create({ number: '+15550104243' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const carol = await t.caller('carol@globex.test');
    await expect(carol.numbers.create({ number: acmeNumber })).rejects.toMatchObject({ code: 'CONFLICT', message: `${acmeNumber} is already in use` });
    await expect(carol.numbers.delete({ number: acmeNumber })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(carol.numbers.create({ number: 'call me' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await (await t.caller('alice@acme.test')).numbers.list()).toContain(acmeNumber);
  });
});

describe('the outbox, through the real twilio client', () => {
  it('queues a reply in its transaction, sends it once, and moves it to sent then delivered from the signed callbacks', async () => {
    const { message, phone, body } = await reply();
    expect(message.status).toBe('queued');
    await vi.waitFor(async () => expect((await messageOf(message.id)).status).toBe('delivered'), { timeout: 5_000, interval: 20 });
    const sent = standIn.messages.find((copy) => copy.body === body)!;
    expect(sent).toMatchObject({ accountSid: ACCOUNT, to: phone, from: acmeNumber });
    expect(sent.statusCallback).toBe(`${publicProxy.url}/webhooks/twilio/status?m=${message.id}`);
    const row = await t.deps.db.message.findUniqueOrThrow({ where: { id: message.id } });
    expect(row.providerSid).toBe(sent.sid);
    expect(copiesAtTwilio(body)).toBe(1);
    // The org's stream said so: queued (message:new), then sent, then delivered.
    const events = await t.deps.db.event.findMany({ where: { recordId: row.conversationId }, orderBy: { seq: 'asc' }, select: { action: true } });
    expect(events.map((event) => event.action)).toEqual(['conversation:new', 'message:new', 'message:sent', 'message:delivered']);
    expect(await t.deps.db.outboxMessage.findUniqueOrThrow({ where: { messageId: message.id } })).toMatchObject({ state: 'done', attempts: 1 });
  });

  it("fails a message Twilio refuses for good with Twilio's reason, without retrying it", async () => {
    standIn.failNext(1, { kind: 'status', status: 400, code: 21211, message: "The 'To' number is not a valid phone number." });
    const requests = standIn.createRequests;
    const { message } = await reply();
    await vi.waitFor(async () => expect((await messageOf(message.id)).status).toBe('failed'), { timeout: 5_000, interval: 20 });
    const row = await t.deps.db.message.findUniqueOrThrow({ where: { id: message.id } });
    expect(row.failureReason).toMatch(/Twilio 21211: The 'To' number is not a valid phone number/);
    expect(standIn.createRequests - requests).toBe(1);
    expect(await t.deps.db.outboxMessage.findUniqueOrThrow({ where: { messageId: message.id } })).toMatchObject({ state: 'done' });
  });

  it('retries after a 429, and sends once', async () => {
    standIn.failNext(1, { kind: 'status', status: 429, code: 20429, message: 'Too Many Requests' });
    const { message, body } = await reply();
    await vi.waitFor(async () => expect((await messageOf(message.id)).status).toBe('delivered'), { timeout: 8_000, interval: 20 });
    expect(copiesAtTwilio(body)).toBe(1);
    expect(await t.deps.db.outboxMessage.findUniqueOrThrow({ where: { messageId: message.id } })).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('settles an attempt whose answer was lost from the status callback, and never sends it again', async () => {
    standIn.failNext(1, { kind: 'hang-after-accept' });
    const { message, body } = await reply();
    await vi.waitFor(async () => expect((await messageOf(message.id)).status).toBe('delivered'), { timeout: 5_000, interval: 20 });
    // Settled by the callback: a done row is never claimed again, whatever the clock says.
    await vi.waitFor(async () => expect(await t.deps.db.outboxMessage.findUniqueOrThrow({ where: { messageId: message.id } })).toMatchObject({ state: 'done', attempts: 1 }), {
      timeout: 5_000,
      interval: 20,
    });
    expect(copiesAtTwilio(body)).toBe(1);
    expect((await t.deps.db.message.findUniqueOrThrow({ where: { id: message.id } })).providerSid).toBe(standIn.messages.find((copy) => copy.body === body)!.sid);
  });

  it('sends again, once, an attempt that never reached Twilio and was never reported, after the reconcile window', async () => {
    standIn.failNext(1, { kind: 'hang-before-accept' });
    const requests = standIn.createRequests;
    const started = Date.now();
    const { message, body } = await reply();
    await vi.waitFor(async () => expect((await messageOf(message.id)).status).toBe('delivered'), { timeout: RECONCILE_MS + 6_000, interval: 20 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(RECONCILE_MS);
    expect(copiesAtTwilio(body)).toBe(1);
    expect(standIn.createRequests - requests).toBe(2);
  });

  it('sends a failed message again only when it failed, in the org, with a carrier connected', async () => {
    standIn.failNext(1, { kind: 'status', status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
    const { message, body } = await reply();
    await vi.waitFor(async () => expect((await messageOf(message.id)).status).toBe('failed'), { timeout: 5_000, interval: 20 });
    const bob = await t.caller('bob@acme.test');
    await expect((await t.caller('carol@globex.test')).messages.retry({ id: message.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const queued = await bob.messages.retry({ id: message.id });
    expect(queued).toMatchObject({ status: 'queued', failureReason: null, failedAt: null });
    await vi.waitFor(async () => expect((await messageOf(message.id)).status).toBe('delivered'), { timeout: 5_000, interval: 20 });
    expect(copiesAtTwilio(body)).toBe(1);
    await expect(bob.messages.retry({ id: message.id })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const events = await t.deps.db.event.findMany({ where: { recordId: message.conversationId }, orderBy: { seq: 'asc' }, select: { action: true } });
    expect(events.map((event) => event.action)).toEqual(['conversation:new', 'message:new', 'message:failed', 'message:queued', 'message:sent', 'message:delivered']);
  });

  it('records a reply as sent, with no request to Twilio, for an org without a carrier', async () => {
    const requests = standIn.createRequests;
    const carol = await t.caller('carol@globex.test');
    const { message } = await carol.conversations.start({ channel: 'sms', phone: '+15559990001', body: 'No carrier here' });
    expect(message.status).toBe('sent');
    expect(await t.deps.db.outboxMessage.count({ where: { messageId: message.id } })).toBe(0);
    expect(standIn.createRequests).toBe(requests);
  });
});

describe('Twilio webhooks', () => {
  const inboundUrl = () => `${publicProxy.url}/webhooks/twilio/sms`;
  const inbound = (fields: Record<string, string>) => ({ AccountSid: ACCOUNT, From: '+15557770001', To: acmeNumber, Body: 'Hello from a phone', ...fields });

  it("takes an inbound SMS signed with the account's token once, however often Twilio retries it, and answers TwiML", async () => {
    const sid = `SM${Date.now()}${++counter}`;
    const first = await standIn.postSigned(ACCOUNT, inboundUrl(), inbound({ MessageSid: sid }));
    expect(first.status).toBe(200);
    expect(first.contentType).toMatch(/^text\/xml/);
    expect(first.body).toContain('<Response/>');
    const again = await standIn.postSigned(ACCOUNT, inboundUrl(), inbound({ MessageSid: sid }));
    expect(again.status).toBe(200);
    expect(await t.deps.db.message.count({ where: { providerSid: sid } })).toBe(1);
  });

  it('refuses a bad signature, another account, and a number of another org, and stores nothing', async () => {
    const before = await t.deps.db.message.count();
    const forged = await fetch(inboundUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'bm90IGEgc2lnbmF0dXJl' },
      body: new URLSearchParams(inbound({ MessageSid: `SM${Date.now()}forged` })).toString(),
    });
    expect(forged.status).toBe(403);
    // Signed by an account no org connected.
    const stranger = await standIn.postSigned(OTHER_ACCOUNT, inboundUrl(), inbound({ AccountSid: OTHER_ACCOUNT, MessageSid: `SM${Date.now()}other` }));
    expect(stranger.status).toBe(403);
    // Acme's account cannot write into Globex's number.
    const crossing = await standIn.postSigned(ACCOUNT, inboundUrl(), inbound({ To: globexNumber, MessageSid: `SM${Date.now()}cross` }));
    expect(crossing.status).toBe(404);
    expect(await t.deps.db.message.count()).toBe(before);
  });

  it('ignores a status report for a message of another org', async () => {
    const carol = await t.caller('carol@globex.test');
    const { message } = await carol.conversations.start({ channel: 'sms', phone: '+15559990002', body: 'Globex only' });
    const report = await standIn.postSigned(ACCOUNT, `${publicProxy.url}/webhooks/twilio/status?m=${message.id}`, {
      AccountSid: ACCOUNT,
      MessageSid: `SM${Date.now()}cross`,
      MessageStatus: 'failed',
    });
    expect(report.status).toBe(404);
    expect((await messageOf(message.id)).status).toBe('sent');
  });

  it("answers a call with TwiML that rings the org's forwarding number, then voicemail unless answered, and rings the org once however often Twilio asks", async () => {
    const callSid = `CA${Date.now()}${++counter}`;
    const fields = { AccountSid: ACCOUNT, CallSid: callSid, From: '+15557770002', To: acmeNumber };
    const first = await standIn.postSigned(ACCOUNT, `${publicProxy.url}/webhooks/twilio/voice`, fields);
    expect(first.status).toBe(200);
    expect(first.contentType).toMatch(/^text\/xml/);
    expect(first.body).toContain(
      `<Dial timeout="30" answerOnBridge="true" action="${publicProxy.url}/webhooks/twilio/voice/after-dial" method="POST"><Number>${FORWARD_TO}</Number></Dial>`,
    );
    expect((await standIn.postSigned(ACCOUNT, `${publicProxy.url}/webhooks/twilio/voice`, fields)).status).toBe(200);
    expect(await t.deps.db.call.count({ where: { callSid } })).toBe(1);
    const unanswered = await standIn.postSigned(ACCOUNT, `${publicProxy.url}/webhooks/twilio/voice/after-dial`, {
      AccountSid: ACCOUNT,
      CallSid: callSid,
      DialCallStatus: 'no-answer',
    });
    expect(unanswered.body).toMatch(/<Say>.*leave a message.*<\/Say><Record maxLength="120" playBeep="true"\/>/);
    const answered = await standIn.postSigned(ACCOUNT, `${publicProxy.url}/webhooks/twilio/voice/after-dial`, {
      AccountSid: ACCOUNT,
      CallSid: callSid,
      DialCallStatus: 'completed',
    });
    expect(answered.body).toContain('<Hangup/>');
    expect(answered.body).not.toContain('<Record');
  });

  it("keeps an inbound photo and document as references, and serves them to the org's users only, fetched with the account's credentials", async () => {
    const photo = Buffer.from([0xff, 0xd8, 0xff, 0xe0, ...Buffer.from('a photo')]);
    const pdf = Buffer.from('%PDF-1.7 a lease');
    const sid = `SM${Date.now()}media`;
    const fields = inbound({
      MessageSid: sid,
      Body: '',
      NumMedia: '2',
      MediaUrl0: standIn.addMedia(ACCOUNT, 'image/jpeg', photo),
      MediaContentType0: 'image/jpeg',
      MediaUrl1: standIn.addMedia(ACCOUNT, 'application/pdf', pdf),
      MediaContentType1: 'application/pdf',
    });
    expect((await standIn.postSigned(ACCOUNT, inboundUrl(), fields)).status).toBe(200);
    const row = await t.deps.db.message.findFirstOrThrow({ where: { providerSid: sid } });
    const conversation = await t.deps.db.conversation.findUniqueOrThrow({ where: { id: row.conversationId } });
    expect(conversation.lastMessagePreview).toBe('📎 2 attachments');
    const bob = await t.caller('bob@acme.test');
    const [listed] = (await bob.messages.list({ conversationId: row.conversationId })).items;
    expect(listed!.media).toEqual([
      { contentType: 'image/jpeg', path: `/media/${row.id}/0` },
      { contentType: 'application/pdf', path: `/media/${row.id}/1` },
    ]);
    // The carrier's URL (with the account in it) never reaches the client.
    expect(JSON.stringify(listed)).not.toContain(standIn.url);

    const get = async (path: string, email?: 'bob@acme.test' | 'carol@globex.test') =>
      fetch(`${t.server.url}${path}`, { headers: email ? { authorization: `Bearer ${await t.tokenFor(email)}` } : {} });
    const image = await get(listed!.media[0]!.path, 'bob@acme.test');
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    expect(image.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await image.arrayBuffer())).toEqual(photo);
    const document = await get(listed!.media[1]!.path, 'bob@acme.test');
    expect(document.headers.get('content-disposition')).toBe('attachment');
    expect(Buffer.from(await document.arrayBuffer())).toEqual(pdf);
    // Another org's user, no token, a missing index: nothing, and no fetch from the carrier.
    const fetchesBefore = standIn.mediaRequests;
    expect((await get(listed!.media[0]!.path, 'carol@globex.test')).status).toBe(404);
    expect((await get(listed!.media[0]!.path)).status).toBe(401);
    expect((await get(`/media/${row.id}/7`, 'bob@acme.test')).status).toBe(404);
    expect(standIn.mediaRequests).toBe(fetchesBefore);
  });

  it('refuses an attachment URL outside the account at Twilio (the server would fetch it with the credentials), and stores nothing', async () => {
    const before = await t.deps.db.message.count();
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      `${standIn.url}/2010-04-01/Accounts/${OTHER_ACCOUNT}/Messages/MM1/Media/ME1`,
      `${standIn.url}/2010-04-01/Accounts/${ACCOUNT}/../x`,
    ]) {
      const answer = await standIn.postSigned(
        ACCOUNT,
        inboundUrl(),
        inbound({ MessageSid: `SM${Date.now()}${++counter}`, NumMedia: '1', MediaUrl0: url, MediaContentType0: 'image/png' }),
      );
      expect(answer.status).toBe(400);
      expect(answer.body).toContain('MediaUrl0');
    }
    expect(await t.deps.db.message.count()).toBe(before);
  });
});
