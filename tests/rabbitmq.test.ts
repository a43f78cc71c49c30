import { Connection, type AsyncMessage, type Consumer } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRabbit, type RabbitServer } from './helpers/rabbitmq.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

// The RabbitMQ bridge against a real broker (started here on random ports), on PGlite,
// PostgreSQL and two nodes (the `multinode` project: both nodes consume the same queues).

const QUEUES = {
  inboundQueue: 'INBOUND_WHATSAPP_MESSAGES',
  statusQueue: 'WHATSAPP_STATUS_UPDATES',
  outboundQueue: 'OUTBOUND_WHATSAPP_MESSAGES',
  deadLetterQueue: 'TANDEM_DEAD_LETTERS',
};

let rabbit: RabbitServer;
let t: TestServer;
let broker: Connection;
let orgNumber: string;
const deadLetters: AsyncMessage[] = [];
const outbound: AsyncMessage[] = [];
const consumers: Consumer[] = [];

beforeAll(async () => {
  rabbit = await startRabbit();
  t = await startTestServer({
    perModule: 1,
    config: {
      RABBITMQ_ALLOWED_HOSTS: ['127.0.0.1'],
      RABBITMQ_SYNC_MS: 200,
      OUTBOX_POLL_MS: 100,
      CARRIER_SEND_TIMEOUT_MS: 2_000,
      CARRIER_RECONCILE_MS: 4_000,
      CARRIER_KEYS: [{ id: 'test', key: Buffer.alloc(32, 5) }],
    },
  });
  orgNumber = (await (await t.caller('alice@acme.test')).webhooks.settings()).numbers[0]!;
  await (await t.caller('alice@acme.test')).carriers.connect({ kind: 'rabbitmq', url: rabbit.url, ...QUEUES, channels: ['whatsapp'] });
  // The test's own client: the agent portal's side of the queues.
  broker = new Connection({ url: rabbit.url, retryLow: 100, retryHigh: 1_000 });
  broker.on('error', () => {});
  consumers.push(
    broker.createConsumer({ queue: QUEUES.deadLetterQueue, queueOptions: { durable: true } }, (message) => void deadLetters.push(message)),
    broker.createConsumer({ queue: QUEUES.outboundQueue, queueOptions: { durable: true } }, (message) => void outbound.push(message)),
  );
});
afterAll(async () => {
  const timed = async (what: string, step: () => Promise<unknown>) => {
    const started = Date.now();
    await step();
    if (Date.now() - started > 2_000) console.warn(`${what} took ${Date.now() - started} ms`);
  };
  await timed('consumers', () => Promise.all(consumers.map((consumer) => consumer.close())));
  await timed('broker', async () => broker?.close());
  await timed('server', async () => t?.[Symbol.asyncDispose]());
  await timed('rabbit', async () => rabbit?.[Symbol.asyncDispose]());
});

/** Publishes to a queue as the portal would: persistent JSON, confirmed by the broker. */
async function publish(queue: string, body: unknown) {
  const publisher = broker.createPublisher({ confirm: true, queues: [{ queue, durable: true }] });
  try {
    await publisher.send({ routingKey: queue, durable: true, contentType: typeof body === 'string' ? 'text/plain' : 'application/json' }, body);
  } finally {
    await publisher.close();
  }
}

let counter = 0;
const nextId = () => `wamid.rabbit.${Date.now()}.${++counter}`;
const inbound = (overrides: Record<string, unknown> = {}) => ({
  id: nextId(),
  from: `+1555700${String(1000 + counter).padStart(4, '0')}`,
  to: orgNumber,
  body: `Hi ${counter}`,
  ...overrides,
});

describe('the RabbitMQ bridge', () => {
  it('applies an inbound message delivered twice once, and acknowledges both', async () => {
    const message = inbound({ body: 'Delivered twice' });
    await publish(QUEUES.inboundQueue, message);
    await publish(QUEUES.inboundQueue, message);
    await vi.waitFor(async () => expect(await t.deps.db.message.count({ where: { providerSid: message.id } })).toBe(1), { timeout: 10_000, interval: 50 });
    await vi.waitFor(async () => expect((await broker.queueDeclare({ queue: QUEUES.inboundQueue, passive: true })).messageCount).toBe(0), { timeout: 5_000, interval: 50 });
    expect(await t.deps.db.message.count({ where: { providerSid: message.id } })).toBe(1);
  });

  it('sends a malformed message to the dead letters with the reason, and the queue goes on', async () => {
    const before = deadLetters.length;
    await publish(QUEUES.inboundQueue, 'not json at all');
    await publish(QUEUES.inboundQueue, { id: nextId(), from: 'nobody', to: orgNumber, body: 'Bad sender' });
    const good = inbound({ body: 'After the bad ones' });
    await publish(QUEUES.inboundQueue, good);
    await vi.waitFor(async () => expect(await t.deps.db.message.count({ where: { providerSid: good.id } })).toBe(1), { timeout: 10_000, interval: 50 });
    await vi.waitFor(() => expect(deadLetters.length - before).toBe(2), { timeout: 5_000, interval: 50 });
    // Two nodes (or a consumer with concurrency) may dead-letter them in either order.
    const reasons = deadLetters.slice(before).map((message) => String(message.headers?.['x-tandem-error']));
    expect(reasons.sort()).toEqual(['Invalid message: from and to must be phone numbers', 'Not JSON']);
    expect(deadLetters.slice(before).map((message) => message.headers?.['x-tandem-queue'])).toEqual([QUEUES.inboundQueue, QUEUES.inboundQueue]);
  });

  it('publishes a reply to the outbound queue once, and moves it from the status queue', async () => {
    const first = inbound({ body: 'Can I book a visit?' });
    await publish(QUEUES.inboundQueue, first);
    await vi.waitFor(async () => expect(await t.deps.db.message.count({ where: { providerSid: first.id } })).toBe(1), { timeout: 10_000, interval: 50 });
    const { conversationId } = await t.deps.db.message.findFirstOrThrow({ where: { providerSid: first.id } });
    const reply = await (await t.caller('bob@acme.test')).messages.send({ conversationId, body: 'Tomorrow at ten?' });
    expect(reply.status).toBe('queued');
    await vi.waitFor(() => expect(outbound.filter((message) => message.messageId === reply.id)).toHaveLength(1), { timeout: 10_000, interval: 50 });
    expect(outbound.find((message) => message.messageId === reply.id)!.body).toMatchObject({
      messageId: reply.id,
      channel: 'whatsapp',
      to: first.from,
      body: 'Tomorrow at ten?',
      media: [],
    });
    await vi.waitFor(async () => expect((await t.deps.db.message.findUniqueOrThrow({ where: { id: reply.id } })).status).toBe('sent'), { timeout: 5_000, interval: 50 });
    await publish(QUEUES.statusQueue, { messageId: reply.id, status: 'delivered' });
    await publish(QUEUES.statusQueue, { messageId: reply.id, status: 'read' });
    await vi.waitFor(async () => expect((await t.deps.db.message.findUniqueOrThrow({ where: { id: reply.id } })).status).toBe('read'), { timeout: 10_000, interval: 50 });
    // A status for a message this org does not have is a dead letter, not a silent drop.
    const before = deadLetters.length;
    await publish(QUEUES.statusQueue, { messageId: 'no-such-message', status: 'delivered' });
    await vi.waitFor(() => expect(deadLetters.slice(before).map((message) => message.headers?.['x-tandem-error'])).toEqual(['No message no-such-message in this org']), {
      timeout: 5_000,
      interval: 50,
    });
    expect(outbound.filter((message) => message.messageId === reply.id)).toHaveLength(1);
  });

  it('refuses a file when the server has no public address the portal could fetch it from, and keeps the file', async () => {
    const first = inbound({ body: 'Send me the plan' });
    await publish(QUEUES.inboundQueue, first);
    await vi.waitFor(async () => expect(await t.deps.db.message.count({ where: { providerSid: first.id } })).toBe(1), { timeout: 10_000, interval: 50 });
    const { conversationId } = await t.deps.db.message.findFirstOrThrow({ where: { providerSid: first.id } });
    const answer = await fetch(`${t.server.url}/uploads?name=plan.pdf`, {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', authorization: `Bearer ${await t.tokenFor('bob@acme.test')}` },
      body: '%PDF-1.4 plan',
    });
    const { id } = (await answer.json()) as { id: string };
    await expect((await t.caller('bob@acme.test')).messages.send({ conversationId, body: 'The plan', attachments: [id] })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringContaining('PUBLIC_URL'),
    });
    expect(await t.deps.db.upload.findUnique({ where: { id }, select: { messageId: true } })).toEqual({ messageId: null });
  });

  it('reconnects after the broker restarts and loses nothing published around it', async () => {
    const around = [inbound({ body: 'Before the crash 1' }), inbound({ body: 'Before the crash 2' })];
    for (const message of around) await publish(QUEUES.inboundQueue, message);
    await rabbit.stop();
    await rabbit.start();
    const after = inbound({ body: 'After the restart' });
    await vi.waitFor(() => publish(QUEUES.inboundQueue, after), { timeout: 20_000, interval: 200 });
    for (const message of [...around, after]) {
      await vi.waitFor(async () => expect(await t.deps.db.message.count({ where: { providerSid: message.id } })).toBe(1), { timeout: 30_000, interval: 100 });
    }
  }, 60_000);

  it('connects only to a broker host the operator allowed, so a tenant cannot aim the server into its network', async () => {
    const carol = await t.caller('carol@globex.test');
    await expect(carol.carriers.connect({ kind: 'rabbitmq', url: 'amqp://guest:guest@10.0.0.7:5672' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/RABBITMQ_ALLOWED_HOSTS/),
    });
    expect(await carol.carriers.list()).toEqual([]);
    // An allowed host, but credentials the broker refuses: said now, nothing stored.
    const refused = new URL(rabbit.url);
    refused.password = 'wrong';
    await expect(carol.carriers.connect({ kind: 'rabbitmq', url: refused.href })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringMatching(/^Could not reach the broker to check the account/),
    });
    expect(await carol.carriers.list()).toEqual([]);
  });

  it('keeps the broker password sealed: the list shows where, not how', async () => {
    const [listed] = await (await t.caller('alice@acme.test')).carriers.list();
    expect(listed).toMatchObject({ kind: 'rabbitmq', channels: ['whatsapp'] });
    expect(listed!.label).toContain(`in ${QUEUES.inboundQueue}`);
    expect(listed!.label).not.toContain('guest:guest');
  });
});
