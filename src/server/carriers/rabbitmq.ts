import { Connection, ConsumerStatus, type AsyncMessage, type Consumer, type Publisher } from 'rabbitmq-client';
import { z } from 'zod';
import { stripControlCharacters } from '../../shared/text.ts';
import { advanceMessageStatus, receiveInboundMessage } from '../comms/conversations.ts';
import { normalizePhone } from '../comms/phone.ts';
import type { AppDeps } from '../context.ts';
import type { Logger } from '../logger.ts';
import type { Carrier } from './types.ts';

export interface RabbitCredentials {
  url: string;
  inboundQueue: string;
  statusQueue: string;
  outboundQueue?: string | undefined;
  deadLetterQueue: string;
}

export const rabbitCredentials = z.object({
  url: z.string(),
  inboundQueue: z.string(),
  statusQueue: z.string(),
  outboundQueue: z.string().optional(),
  deadLetterQueue: z.string(),
});

/** What the bridge reads from the inbound queue (JSON). */
const inboundSchema = z.object({
  /** The provider's message id: the same id twice is one message. */
  id: z.string().min(1).max(200),
  from: z.string().min(3).max(48),
  to: z.string().min(3).max(48),
  body: z.string().max(4096),
  channel: z.enum(['whatsapp', 'sms']).default('whatsapp'),
});
/** What the bridge reads from the status queue (JSON): ours (`messageId`) or the provider's (`id`). */
const statusSchema = z
  .object({
    messageId: z.string().min(1).max(200).optional(),
    id: z.string().min(1).max(200).optional(),
    status: z.enum(['sent', 'delivered', 'read', 'failed']),
    reason: z.string().max(500).optional(),
  })
  .refine((update) => update.messageId || update.id, 'Give messageId or id');

/** One carrier's connection to its broker and the publisher its replies and dead letters go through. */
interface Link {
  connection: Connection;
  publisher: Publisher;
  consumers: Consumer[];
}

/**
 * The RabbitMQ side of the carriers: a connection per connected `rabbitmq` carrier (the
 * client reconnects by itself, and redeclares its queues each time), consumers of its
 * inbound and status queues, and a confirmed publisher for replies and dead letters.
 * Every node runs them (competing consumers); a message is acknowledged only once its
 * change is committed, and the same provider id twice is one message.
 */
export class RabbitLinks {
  readonly #links = new Map<string, Link>();

  constructor(private readonly logger: Logger) {}

  /** The carrier's link, opened on first use. */
  link(carrierId: string, credentials: RabbitCredentials): Link {
    const known = this.#links.get(carrierId);
    if (known) return known;
    const connection = new Connection({ url: credentials.url, retryLow: 100, retryHigh: 5_000, connectionTimeout: 10_000 });
    // The client retries on its own; an error event unheard would end the process.
    connection.on('error', (error) => this.logger.warn('rabbitmq connection error', { carrierId, err: error }));
    const durable = (queue: string) => ({ queue, durable: true });
    const queues = [credentials.deadLetterQueue, ...(credentials.outboundQueue ? [credentials.outboundQueue] : [])].map(durable);
    const link: Link = { connection, publisher: connection.createPublisher({ confirm: true, queues }), consumers: [] };
    this.#links.set(carrierId, link);
    return link;
  }

  has(carrierId: string): boolean {
    return this.#links.has(carrierId);
  }

  ids(): string[] {
    return [...this.#links.keys()];
  }

  async drop(carrierId: string): Promise<void> {
    const link = this.#links.get(carrierId);
    if (!link) return;
    this.#links.delete(carrierId);
    await Promise.allSettled(link.consumers.map((consumer) => consumer.close()));
    await link.publisher.close().catch(() => {});
    await link.connection.close().catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all(this.ids().map((id) => this.drop(id)));
  }
}

/** Replies out as JSON on the carrier's outbound queue, persistent, confirmed by the broker. */
export function rabbitCarrier(carrierId: string, credentials: RabbitCredentials, links: RabbitLinks): Carrier {
  return {
    kind: 'rabbitmq',
    async send(message) {
      if (!credentials.outboundQueue) return { outcome: 'rejected', reason: 'This RabbitMQ carrier has no outbound queue' };
      try {
        await links
          .link(carrierId, credentials)
          .publisher.send(
            { routingKey: credentials.outboundQueue, durable: true, messageId: message.messageId, contentType: 'application/json' },
            { messageId: message.messageId, channel: message.channel, to: message.to, from: message.from, body: message.body, media: message.media },
          );
        // The broker has it; the status queue reports the rest, naming `messageId`.
        return { outcome: 'sent', providerId: `amqp-${message.messageId}` };
      } catch (error) {
        return { outcome: 'unknown', reason: `RabbitMQ did not confirm: ${(error as Error).message}` };
      }
    },
  };
}

function decode(message: AsyncMessage): unknown {
  const body = message.body as unknown;
  if (Buffer.isBuffer(body)) return JSON.parse(body.toString('utf8'));
  if (typeof body === 'string') return JSON.parse(body);
  return body;
}

type BridgeDeps = Pick<AppDeps, 'db' | 'bus' | 'metrics' | 'logger' | 'carriers'>;

/**
 * Starts the consumers of every connected `rabbitmq` carrier and stops those of carriers
 * disconnected, at start, every `syncMs`, and at once when this node connects or
 * disconnects one.
 */
export class RabbitBridge {
  #timer: ReturnType<typeof setInterval> | undefined;
  #syncing: Promise<void> | undefined;

  constructor(
    private readonly deps: BridgeDeps,
    private readonly links: RabbitLinks,
    private readonly syncMs: number,
  ) {}

  start(): void {
    void this.sync();
    this.#timer = setInterval(() => void this.sync(), this.syncMs);
    this.#timer.unref?.();
  }

  sync(): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    try {
      const carriers = await this.deps.carriers.byKind('rabbitmq');
      const wanted = new Set(carriers.map((carrier) => carrier.id));
      for (const id of this.links.ids()) if (!wanted.has(id)) await this.links.drop(id);
      for (const carrier of carriers) {
        if (this.links.has(carrier.id) || !carrier.rabbit) continue;
        this.#consume(carrier.id, carrier.orgId, carrier.rabbit);
      }
    } catch (error) {
      this.deps.logger.error('rabbitmq: sync failed', { err: error });
    }
  }

  #consume(carrierId: string, orgId: string, credentials: RabbitCredentials) {
    const link = this.links.link(carrierId, credentials);
    const deadLetter = async (queue: string, message: AsyncMessage, reason: string) => {
      this.deps.logger.warn('rabbitmq: dead-lettered', { carrierId, queue, reason });
      await link.publisher.send(
        { routingKey: credentials.deadLetterQueue, durable: true, headers: { 'x-tandem-error': reason, 'x-tandem-queue': queue }, messageId: message.messageId },
        message.body,
      );
      return ConsumerStatus.ACK;
    };
    const consumer = (queue: string, handle: (payload: unknown) => Promise<string | null>) => {
      const created = link.connection.createConsumer({ queue, queueOptions: { durable: true }, qos: { prefetchCount: 20 }, concurrency: 10, requeue: true }, async (message) => {
        let payload: unknown;
        try {
          payload = decode(message);
        } catch {
          return deadLetter(queue, message, 'Not JSON');
        }
        // A bad message goes to the dead letters with the reason and is acknowledged, so it
        // never blocks the queue; a failure to commit throws, and the message is redelivered.
        const problem = await handle(payload);
        return problem ? deadLetter(queue, message, problem) : ConsumerStatus.ACK;
      });
      created.on('error', (error) => this.deps.logger.warn('rabbitmq consumer error', { carrierId, queue, err: error }));
      link.consumers.push(created);
    };
    consumer(credentials.inboundQueue, async (payload) => {
      const parsed = inboundSchema.safeParse(payload);
      if (!parsed.success) return `Invalid message: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ')}`;
      const from = normalizePhone(parsed.data.from.replace(/^whatsapp:/, ''));
      const to = normalizePhone(parsed.data.to.replace(/^whatsapp:/, ''));
      const body = stripControlCharacters(parsed.data.body);
      if (!from || !to) return 'Invalid message: from and to must be phone numbers';
      if (!body.trim()) return 'Invalid message: the body is empty';
      await receiveInboundMessage(this.deps, { orgId, channel: parsed.data.channel, from, to, body, providerSid: parsed.data.id });
      return null;
    });
    consumer(credentials.statusQueue, async (payload) => {
      const parsed = statusSchema.safeParse(payload);
      if (!parsed.success) return `Invalid status: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ')}`;
      const { messageId, id, status, reason } = parsed.data;
      const report = { status, reason, ...(id ? { providerSid: id } : {}) };
      let outcome = messageId ? await advanceMessageStatus(this.deps, orgId, { messageId }, report) : 'unknown';
      if (outcome === 'unknown' && id) outcome = await advanceMessageStatus(this.deps, orgId, { providerSid: id }, report);
      return outcome === 'unknown' ? `No message ${messageId ?? id} in this org` : null;
    });
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#syncing;
    await this.links.close();
  }
}
