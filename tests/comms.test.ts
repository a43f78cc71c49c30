import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from '../src/client/trpc.ts';
import { signWebhook } from '../src/server/comms/webhooks.ts';
import { NEW_CONVERSATION_WINDOW_MS, NEW_CONVERSATIONS_ANNOUNCED, type CallEvent, type ConversationEvent, type CommsEvent } from '../src/shared/comms.ts';
import type { DashboardCounters } from '../src/shared/dashboard.ts';
import type { Notification } from '../src/shared/notifications.ts';
import { startProxy } from './helpers/proxy.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { collect } from './helpers/collect.ts';

let t: TestServer;
let acmeNumber: string;
let acmeSecret: string;
let globexNumber: string;

beforeAll(async () => {
  t = await startTestServer({ config: { CALL_RING_TIMEOUT_MS: 600, SCHEDULER_INTERVAL_MS: 50 } });
  const acme = await (await t.caller('alice@acme.test')).webhooks.settings();
  const globex = await (await t.caller('carol@globex.test')).webhooks.settings();
  acmeNumber = acme.numbers[0]!;
  acmeSecret = acme.secret!;
  globexNumber = globex.numbers[0]!;
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

let sids = 0;
const nextSid = (prefix: string) => `${prefix}${Date.now()}${String(++sids).padStart(6, '0')}`;

/** POSTs a Twilio-style form to a webhook, signed with `secret` (the org's by default). */
async function webhook(path: string, fields: Record<string, string>, { secret = acmeSecret, timestamp = Math.floor(Date.now() / 1000) } = {}) {
  const body = new URLSearchParams(fields).toString();
  const response = await fetch(`${t.server.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-tandem-timestamp': String(timestamp),
      'x-tandem-signature': signWebhook(secret, String(timestamp), body),
    },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const onConversations = (client: TandemClient) => collect<CommsEvent>((handlers) => client.trpc.conversations.onChange.subscribe(undefined, handlers as never));

async function messageCount() {
  return t.deps.db.message.count();
}

describe('inbound SMS webhook', () => {
  it('reaches the org subscribers as message:new within a second, and nobody in another org', async () => {
    const bob = await t.client('bob@acme.test');
    const carol = await t.client('carol@globex.test');
    const bobs = onConversations(bob);
    const carols = onConversations(carol);
    await vi.waitFor(() => expect(bobs.isStarted() && carols.isStarted()).toBe(true), { timeout: 5_000 });

    const sid = nextSid('SM');
    const sentAt = Date.now();
    const reply = await webhook('/webhooks/sms', { From: '+1 555 700 0001', To: acmeNumber, Body: 'Is the open house still on?', MessageSid: sid });
    expect(reply).toMatchObject({ status: 200, body: { ok: true, duplicate: false } });
    await vi.waitFor(() => expect(bobs.items.map((event) => event.type)).toEqual(['conversation:new', 'message:new']), { timeout: 1_000, interval: 5 });
    expect(Date.now() - sentAt).toBeLessThan(1_000);
    const received = bobs.items[1] as Extract<ConversationEvent, { type: 'message:new' }>;
    expect(received.data.message).toMatchObject({ direction: 'inbound', body: 'Is the open house still on?', status: 'delivered' });
    expect(received.data.conversation).toMatchObject({ contactPhone: '+15557000001', unreadCount: 1, status: 'open', channel: 'sms' });
    expect(received.userId).toBeNull();

    // Carol's stream works (her own org's message arrives) and never carried Acme's.
    const globexSecret = (await (await t.caller('carol@globex.test')).webhooks.settings()).secret!;
    await webhook('/webhooks/sms', { From: '+15557000002', To: globexNumber, Body: 'Hello Globex', MessageSid: nextSid('SM') }, { secret: globexSecret });
    await vi.waitFor(() => expect(carols.items.some((event) => event.type === 'message:new')).toBe(true), { timeout: 2_000 });
    expect(carols.items.every((event) => event.orgId === t.users['carol@globex.test'].orgId)).toBe(true);
    expect(bobs.items).toHaveLength(2);

    // The next message of the same contact continues the conversation.
    await webhook('/webhooks/sms', { From: '+15557000001', To: acmeNumber, Body: 'And is parking available?', MessageSid: nextSid('SM') });
    await vi.waitFor(() => expect(bobs.items).toHaveLength(3), { timeout: 2_000 });
    const second = bobs.items[2] as Extract<ConversationEvent, { type: 'message:new' }>;
    expect(second.recordId).toBe(received.recordId);
    expect(second.data.conversation.unreadCount).toBe(2);
    bobs.stop();
    carols.stop();
  });

  it('processes the same MessageSid once', async () => {
    const alice = await t.caller('alice@acme.test');
    const sid = nextSid('SM');
    const fields = { From: '+15557000003', To: acmeNumber, Body: 'Twice?', MessageSid: sid };
    const first = await webhook('/webhooks/sms', fields);
    const headBefore = (await alice.events.head()).lastEventId;
    const second = await webhook('/webhooks/sms', fields);
    expect(first.body).toMatchObject({ duplicate: false });
    expect(second).toMatchObject({ status: 200, body: { duplicate: true, messageId: first.body.messageId } });
    expect(await t.deps.db.message.count({ where: { body: 'Twice?' } })).toBe(1);
    expect((await alice.events.head()).lastEventId).toBe(headBefore);
  });

  it('rejects a bad signature, an unknown number, a stale timestamp and a malformed body, changing nothing', async () => {
    const before = await messageCount();
    const fields = { From: '+15557000004', To: acmeNumber, Body: 'Forged', MessageSid: nextSid('SM') };
    expect((await webhook('/webhooks/sms', fields, { secret: 'not-the-secret' })).status).toBe(401);
    expect((await webhook('/webhooks/sms', { ...fields, To: '+15550009999' })).status).toBe(401);
    expect((await webhook('/webhooks/sms', fields, { timestamp: Math.floor(Date.now() / 1000) - 3600 })).status).toBe(401);
    // The signature covers the body: the same signature over another body fails.
    const timestamp = String(Math.floor(Date.now() / 1000));
    const tampered = await fetch(`${t.server.url}/webhooks/sms`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-tandem-timestamp': timestamp,
        'x-tandem-signature': signWebhook(acmeSecret, timestamp, new URLSearchParams(fields).toString()),
      },
      body: new URLSearchParams({ ...fields, Body: 'Changed on the way' }).toString(),
    });
    expect(tampered.status).toBe(401);
    const malformed = await webhook('/webhooks/sms', { From: '+15557000004', To: acmeNumber, MessageSid: 'x' });
    expect(malformed.status).toBe(400);
    expect(String(malformed.body.error)).toMatch(/Body|MessageSid/);
    expect((await webhook('/webhooks/sms', { ...fields, From: 'not a number' })).status).toBe(400);
    const wrongType = await fetch(`${t.server.url}/webhooks/sms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(wrongType.status).toBe(415);
    expect((await fetch(`${t.server.url}/webhooks/sms`)).status).toBe(405);
    expect(await messageCount()).toBe(before);
  });
});

describe('a new conversation', () => {
  it('notifies everyone of the org who can answer it, once, with what the customer wrote; the next messages do not', async () => {
    const bob = await t.client('bob@acme.test');
    const notes = collect<Notification>((handlers) => bob.trpc.notifications.onNew.subscribe(undefined, handlers as never));
    await vi.waitFor(() => expect(notes.isStarted()).toBe(true), { timeout: 5_000 });
    const from = '+15557000777';
    const first = await webhook('/webhooks/sms', { From: from, To: acmeNumber, Body: 'Do you service boilers?', MessageSid: nextSid('SM') });
    expect(first.status).toBe(200);
    await webhook('/webhooks/sms', { From: from, To: acmeNumber, Body: 'It is a 2015 Vaillant', MessageSid: nextSid('SM') });
    const conversation = await t.deps.db.conversation.findFirstOrThrow({ where: { contactPhone: from } });
    await vi.waitFor(() => expect(notes.items.map((note) => note.kind)).toEqual(['conversation_new']), { timeout: 5_000 });
    expect(notes.items[0]).toMatchObject({ title: `New SMS conversation: ${from}`, body: 'Do you service boilers?', module: 'conversations', recordId: conversation.id });
    const notified = await t.deps.db.notification.findMany({ where: { recordId: conversation.id }, select: { userId: true } });
    expect(notified.map((row) => row.userId).sort()).toEqual([t.users['alice@acme.test'].id, t.users['bob@acme.test'].id].sort());
    notes.stop();
  });

  it(`past ${NEW_CONVERSATIONS_ANNOUNCED} new conversations in ${NEW_CONVERSATION_WINDOW_MS / 60_000} minutes, shows the next ones in the inbox without notifying anyone`, async () => {
    const acme = t.users['alice@acme.test'].orgId;
    const since = new Date(Date.now() - NEW_CONVERSATION_WINDOW_MS);
    const recent = await t.deps.db.conversation.count({ where: { orgId: acme, createdAt: { gte: since } } });
    const numbers = Array.from({ length: Math.max(0, NEW_CONVERSATIONS_ANNOUNCED - recent) + 2 }, (_, i) => `+1555710${String(i).padStart(4, '0')}`);
    for (const from of numbers) expect((await webhook('/webhooks/sms', { From: from, To: acmeNumber, Body: 'Hello?', MessageSid: nextSid('SM') })).status).toBe(200);
    const started = await t.deps.db.conversation.findMany({ where: { contactPhone: { in: numbers } }, orderBy: { createdAt: 'asc' }, select: { id: true } });
    expect(started).toHaveLength(numbers.length);
    const notified = async (id: string) => t.deps.db.notification.count({ where: { recordId: id, kind: 'conversation_new' } });
    const quiet = started.slice(-2);
    const announced = started.slice(0, -2);
    for (const { id } of quiet) expect(await notified(id)).toBe(0);
    for (const { id } of announced) expect(await notified(id)).toBe(2);
    const events = await t.deps.db.event.findMany({ where: { recordId: { in: quiet.map((row) => row.id) }, action: 'conversation:new' } });
    expect(events.map((event) => (event.data as { quieted?: boolean; notifiedUserIds: string[] }).quieted)).toEqual([true, true]);
    // Still in everyone's inbox.
    const inbox = await (await t.caller('bob@acme.test')).conversations.list({ limit: 100 });
    expect(inbox.items.map((item) => item.id)).toEqual(expect.arrayContaining(quiet.map((row) => row.id)));
  });
});

describe('calls', () => {
  it('an incoming call rings the org; unanswered it is missed with a notification, answered in time it is not', async () => {
    const bob = await t.client('bob@acme.test');
    const calls = collect<CallEvent>((handlers) => bob.trpc.calls.onChange.subscribe(undefined, handlers as never));
    const notes = collect<Notification>((handlers) => bob.trpc.notifications.onNew.subscribe(undefined, handlers as never));
    await vi.waitFor(() => expect(calls.isStarted() && notes.isStarted()).toBe(true), { timeout: 5_000 });

    const answered = await webhook('/webhooks/voice', { From: '+15557000010', To: acmeNumber, CallSid: nextSid('CA') });
    const unanswered = await webhook('/webhooks/voice', { From: '+15557000011', To: acmeNumber, CallSid: nextSid('CA') });
    expect(answered.status).toBe(200);
    const alice = await t.caller('alice@acme.test');
    const taken = await alice.calls.answer({ id: String(answered.body.callId) });
    expect(taken).toMatchObject({ status: 'answered', answeredById: t.users['alice@acme.test'].id });
    // Someone else cannot take it too.
    await expect((await t.client('bob@acme.test')).trpc.calls.answer.mutate({ id: String(answered.body.callId) })).rejects.toMatchObject({
      data: { code: 'CONFLICT', current: { status: 'answered', answeredById: t.users['alice@acme.test'].id } },
    });

    await vi.waitFor(() => expect(calls.items.some((event) => event.type === 'call.missed')).toBe(true), { timeout: 5_000 });
    // The answered call rang out before the missed one did: the scheduler has passed its deadline.
    expect(calls.items.map((event) => [event.type, event.recordId])).toEqual([
      ['call.incoming', answered.body.callId],
      ['call.incoming', unanswered.body.callId],
      ['call.answered', answered.body.callId],
      ['call.missed', unanswered.body.callId],
    ]);
    await vi.waitFor(() => expect(notes.items.map((note) => note.kind)).toEqual(['call_missed']), { timeout: 2_000 });
    expect(notes.items[0]).toMatchObject({ title: 'Missed call from +15557000011', module: 'calls', recordId: unanswered.body.callId });
    await expect(alice.calls.answer({ id: String(unanswered.body.callId) })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await (await t.caller('carol@globex.test')).calls.list()).items).toEqual([]);
    calls.stop();
    notes.stop();
  });
});

describe('messages', () => {
  it('delivery status sent → delivered → read reaches the conversation subscribers in that order, never backwards', async () => {
    const alice = await t.client('alice@acme.test');
    const inbound = await webhook('/webhooks/sms', { From: '+15557000020', To: acmeNumber, Body: 'Can you send the report?', MessageSid: nextSid('SM') });
    const conversationId = String(inbound.body.conversationId);
    const stream = collect<ConversationEvent>((handlers) => alice.trpc.messages.onConversation.subscribe({ conversationId }, handlers as never));
    await vi.waitFor(() => expect(stream.isStarted()).toBe(true), { timeout: 5_000 });

    const sent = await alice.trpc.messages.send.mutate({ conversationId, body: 'Here it is.' });
    expect(sent).toMatchObject({ direction: 'outbound', status: 'sent', authorId: t.users['alice@acme.test'].id });
    const sid = (await t.deps.db.message.findUniqueOrThrow({ where: { id: sent.id } })).providerSid!;
    for (const status of ['delivered', 'delivered', 'read', 'delivered']) {
      const reply = await webhook('/webhooks/status', { From: acmeNumber, MessageSid: sid, MessageStatus: status });
      expect(reply.status).toBe(200);
    }
    await vi.waitFor(() => expect(stream.items.map((event) => event.type)).toEqual(['message:new', 'message:delivered', 'message:read']), { timeout: 2_000 });
    expect(stream.items.slice(1).map((event) => 'messageIds' in event.data && event.data.messageIds)).toEqual([[sent.id], [sent.id]]);
    const [latest] = (await alice.trpc.messages.list.query({ conversationId })).items;
    expect(latest).toMatchObject({ id: sent.id, status: 'read' });
    expect(latest!.deliveredAt).not.toBeNull();
    expect((await webhook('/webhooks/status', { From: acmeNumber, MessageSid: 'SMunknown000000', MessageStatus: 'read' })).status).toBe(404);
    expect((await webhook('/webhooks/status', { From: acmeNumber, MessageSid: sid, MessageStatus: 'exploded' })).status).toBe(400);

    // The agent reads the conversation: message:read for the inbound one, unread back to 0.
    const read = await alice.trpc.messages.markRead.mutate({ conversationId });
    expect(read).toMatchObject({ read: 1, conversation: { unreadCount: 0 } });
    await vi.waitFor(() => expect(stream.items.at(-1)).toMatchObject({ type: 'message:read', data: { messageIds: [inbound.body.messageId] } }), { timeout: 2_000 });
    expect((await alice.trpc.messages.markRead.mutate({ conversationId })).read).toBe(0);
    stream.stop();
  });

  it('assigning notifies the new assignee; another org cannot see or touch the conversation', async () => {
    const inbound = await webhook('/webhooks/sms', { From: '+15557000030', To: acmeNumber, Body: 'Who handles my file?', MessageSid: nextSid('SM') });
    const id = String(inbound.body.conversationId);
    const alice = await t.caller('alice@acme.test');
    const bobId = t.users['bob@acme.test'].id;
    const assigned = await alice.conversations.assign({ id, assigneeId: bobId });
    expect(assigned.assigneeId).toBe(bobId);
    const bobs = await (await t.caller('bob@acme.test')).notifications.list();
    expect(bobs.items[0]).toMatchObject({ kind: 'conversation_assigned', recordId: id, title: 'Conversation assigned to you: +15557000030' });
    expect((await alice.conversations.list({ assigneeId: bobId, limit: 50 })).items.map((item) => item.id)).toContain(id);
    expect((await alice.conversations.close({ id })).status).toBe('closed');

    const carol = await t.caller('carol@globex.test');
    await expect(carol.conversations.byId({ id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(carol.messages.send({ conversationId: id, body: 'Hi' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(carol.conversations.assign({ id, assigneeId: t.users['carol@globex.test'].id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(alice.conversations.assign({ id, assigneeId: t.users['carol@globex.test'].id })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(alice.messages.send({ conversationId: id, body: '   ' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(carol.webhooks.settings()).resolves.toMatchObject({ numbers: [globexNumber] });
    await expect((await t.caller('bob@acme.test')).webhooks.settings()).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('starting a conversation', () => {
  it('an agent texts a client: one open conversation per number, which the client’s reply continues', async () => {
    const alice = await t.caller('alice@acme.test');
    const client = await alice.clients.create({ firstName: 'Priya', lastName: 'Patel', phone: '+1 (555) 700-0070' });
    const first = await alice.conversations.start({ clientId: client.id, body: 'Your keys are ready.' });
    expect(first.conversation).toMatchObject({
      contactName: 'Priya Patel',
      contactPhone: '+15557000070',
      clientId: client.id,
      assigneeId: t.users['alice@acme.test'].id,
      unreadCount: 0,
      orgNumber: acmeNumber,
    });
    expect(first.message).toMatchObject({ direction: 'outbound', status: 'sent', body: 'Your keys are ready.' });
    const again = await alice.conversations.start({ phone: '+1 555 700 0070', body: 'Pick them up any time.' });
    expect(again.conversation.id).toBe(first.conversation.id);
    const reply = await webhook('/webhooks/sms', { From: '+15557000070', To: acmeNumber, Body: 'Thanks!', MessageSid: nextSid('SM') });
    expect(reply.body.conversationId).toBe(first.conversation.id);
    expect((await alice.messages.list({ conversationId: first.conversation.id })).items.map((message) => message.body)).toEqual([
      'Thanks!',
      'Pick them up any time.',
      'Your keys are ready.',
    ]);

    await expect(alice.conversations.start({ body: 'To whom?' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(alice.conversations.start({ clientId: client.id, phone: '+15557000070', body: 'Both' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const noPhone = await alice.clients.create({ firstName: 'No', lastName: 'Phone' });
    await expect(alice.conversations.start({ clientId: noPhone.id, body: 'Hi' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const carol = await t.caller('carol@globex.test');
    await expect(carol.conversations.start({ clientId: client.id, body: 'Not my client' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('typing in a conversation', () => {
  it('is seen by the org on that conversation, never by another org', async () => {
    const inbound = await webhook('/webhooks/sms', { From: '+15557000060', To: acmeNumber, Body: 'Hello?', MessageSid: nextSid('SM') });
    const conversationId = String(inbound.body.conversationId);
    const alice = await t.client('alice@acme.test');
    const watching = collect<{ type: string; userId?: string; typing?: boolean }>((handlers) =>
      alice.trpc.presence.onRecord.subscribe({ module: 'conversations', recordId: conversationId }, handlers as never),
    );
    await vi.waitFor(() => expect(watching.items.some((item) => item.type === 'viewers')).toBe(true), { timeout: 5_000 });
    const bob = await t.client('bob@acme.test');
    // Over the socket: what a client says over HTTP before its socket opens is dropped when it does.
    await vi.waitFor(() => expect(bob.connection.state).toBe('open'), { timeout: 5_000 });
    await bob.trpc.typing.start.mutate({ module: 'conversations', recordId: conversationId });
    await vi.waitFor(() => expect(watching.items.at(-1)).toMatchObject({ type: 'typing', userId: t.users['bob@acme.test'].id, typing: true }), { timeout: 2_000 });
    await bob.trpc.typing.stop.mutate({ module: 'conversations', recordId: conversationId });
    await vi.waitFor(() => expect(watching.items.at(-1)).toMatchObject({ type: 'typing', typing: false }), { timeout: 2_000 });
    // Carol typing on that id (her org has no such conversation) is NOT_FOUND and reaches nobody in Acme.
    const carol = await t.client('carol@globex.test');
    await vi.waitFor(() => expect(carol.connection.state).toBe('open'), { timeout: 5_000 });
    const count = watching.items.length;
    await expect(carol.trpc.typing.start.mutate({ module: 'conversations', recordId: conversationId })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    await bob.trpc.typing.start.mutate({ module: 'conversations', recordId: conversationId });
    await vi.waitFor(() => expect(watching.items.at(-1)).toMatchObject({ userId: t.users['bob@acme.test'].id, typing: true }), { timeout: 2_000 });
    expect(watching.items.slice(count).every((item) => item.userId !== t.users['carol@globex.test'].id)).toBe(true);
    watching.stop();
  });
});

describe('without a WebSocket', () => {
  it('a conversation stream polls the log, then resumes over the socket with no gap and no duplicate', async () => {
    const inbound = await webhook('/webhooks/sms', { From: '+15557000050', To: acmeNumber, Body: 'First', MessageSid: nextSid('SM') });
    const conversationId = String(inbound.body.conversationId);
    await using proxy = await startProxy(t.server);
    proxy.setMode('no-websocket');
    const bob = await t.client('bob@acme.test', { url: proxy.url });
    const stream = collect<ConversationEvent>((handlers) => bob.trpc.messages.onConversation.subscribe({ conversationId, lastEventId: '0' }, handlers as never));
    await vi.waitFor(() => expect(bob.connection.state).toBe('fallback-polling'), { timeout: 5_000 });
    await vi.waitFor(() => expect(stream.items.map((event) => event.type)).toEqual(['conversation:new', 'message:new']), { timeout: 5_000 });

    await webhook('/webhooks/sms', { From: '+15557000050', To: acmeNumber, Body: 'Second, while polling', MessageSid: nextSid('SM') });
    await vi.waitFor(() => expect(stream.items).toHaveLength(3), { timeout: 5_000 });
    proxy.setMode('pass');
    await vi.waitFor(() => expect(bob.connection.state).toBe('open'), { timeout: 10_000 });
    await webhook('/webhooks/sms', { From: '+15557000050', To: acmeNumber, Body: 'Third, live', MessageSid: nextSid('SM') });
    await vi.waitFor(() => expect(stream.items).toHaveLength(4), { timeout: 5_000 });
    const seqs = stream.items.map((event) => event.seq);
    expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(seqs);
    expect(stream.items.slice(1).map((event) => event.type === 'message:new' && event.data.message.body)).toEqual(['First', 'Second, while polling', 'Third, live']);
    stream.stop();
  });
});

describe('dashboard counters', () => {
  it('move when a conversation or a job changes', async () => {
    const bob = await t.client('bob@acme.test');
    const counters = collect<DashboardCounters>((handlers) => bob.trpc.dashboard.onCounters.subscribe(undefined, handlers as never));
    await vi.waitFor(() => expect(counters.items.length).toBe(1), { timeout: 5_000 });
    const first = counters.items[0]!;

    await webhook('/webhooks/sms', { From: '+15557000040', To: acmeNumber, Body: 'New here', MessageSid: nextSid('SM') });
    await vi.waitFor(() => expect(counters.items.at(-1)).toMatchObject({ activeConversations: first.activeConversations + 1, unreadMessages: first.unreadMessages + 1 }), {
      timeout: 3_000,
    });
    await (await t.caller('alice@acme.test')).jobs.create({ title: 'Counted', status: 'new' });
    await vi.waitFor(() => expect(counters.items.at(-1)!.openJobs).toBe(first.openJobs + 1), { timeout: 3_000 });
    counters.stop();
  });
});
