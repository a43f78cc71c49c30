import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../logger.ts';

/**
 * What one node tells every node (itself included) after a change of who may do what
 * has been committed: a session revoked, or a user changed (role, deactivation,
 * reactivation, password change revoking sessions). It names what changed, never the
 * new state: each node reads that from the database, so a notice arriving late or
 * twice cannot install an older state.
 */
export type SessionNotice = { type: 'session'; sessionId: string; userId: string } | { type: 'user'; userId: string };

const messageSchema = z.object({
  node: z.string(),
  notice: z.union([z.object({ type: z.literal('session'), sessionId: z.string(), userId: z.string() }), z.object({ type: z.literal('user'), userId: z.string() })]),
});

export interface SessionChannelListener {
  notice(notice: SessionNotice): void;
  /** Notices may have been missed (the channel was down): whatever is cached must be read again. */
  resync(): void;
}

export interface SessionChannel {
  publish(notice: SessionNotice): void;
  listen(listener: SessionChannelListener): void;
  close(): Promise<void>;
}

/** One process: notices go to its listener on the next microtask (after the publisher's own code, as over Redis). */
export class InProcessSessionChannel implements SessionChannel {
  #listener: SessionChannelListener | undefined;

  publish(notice: SessionNotice): void {
    queueMicrotask(() => this.#listener?.notice(notice));
  }

  listen(listener: SessionChannelListener): void {
    this.#listener = listener;
  }

  async close(): Promise<void> {
    this.#listener = undefined;
  }
}

/**
 * Every node through Redis pub/sub, as the event bus (bus/redis.ts) does it: a publisher
 * that fails fast while Redis is away (no offline queue: a notice sent minutes later
 * would be noise), and a subscriber that, once Redis is back, asks for a resync, since
 * notices published meanwhile were lost. Meanwhile each node's periodic check of its
 * live sessions (auth/sessions.ts) still ends revoked ones.
 */
export class RedisSessionChannel implements SessionChannel {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #channel: string;
  readonly #logger: Logger;
  /** Redis hands a node its own messages too; those it already applied are skipped. */
  readonly #node = randomUUID();
  #listener: SessionChannelListener | undefined;
  #wasDown = false;
  #closed = false;

  constructor(options: { url: string; logger: Logger; channel?: string }) {
    this.#channel = options.channel ?? 'tandem:sessions';
    this.#logger = options.logger;
    const connection = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (times: number) => Math.min(100 * times, 1_000) };
    this.#publisher = new Redis(options.url, { ...connection, enableOfflineQueue: false });
    this.#subscriber = new Redis(options.url, connection);
    this.#subscriber.on('message', (_channel: string, message: string) => this.#receive(message));
    this.#subscriber.on('ready', () => void this.#onUp());
    this.#subscriber.on('close', () => {
      if (!this.#closed) this.#wasDown = true;
    });
    this.#publisher.on('error', () => undefined);
    this.#subscriber.on('error', () => undefined);
  }

  async start(): Promise<void> {
    await this.#publisher.connect().catch(() => undefined);
    await this.#subscriber.connect().catch(() => {
      this.#wasDown = true;
    });
  }

  publish(notice: SessionNotice): void {
    // This node learns at once, whether or not Redis carries it to the others.
    queueMicrotask(() => this.#listener?.notice(notice));
    if (this.#publisher.status !== 'ready') return;
    this.#publisher.publish(this.#channel, JSON.stringify({ node: this.#node, notice })).catch(() => undefined);
  }

  listen(listener: SessionChannelListener): void {
    this.#listener = listener;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listener = undefined;
    this.#publisher.disconnect();
    this.#subscriber.disconnect();
  }

  async #onUp() {
    await this.#subscriber.subscribe(this.#channel).catch(() => undefined);
    if (!this.#wasDown) return;
    this.#wasDown = false;
    this.#logger.info('redis is back: session notices resume');
    this.#listener?.resync();
  }

  #receive(message: string) {
    let parsed: z.infer<typeof messageSchema>;
    try {
      parsed = messageSchema.parse(JSON.parse(message));
    } catch (error) {
      this.#logger.warn('ignored a malformed session notice', { err: error });
      return;
    }
    if (parsed.node !== this.#node) this.#listener?.notice(parsed.notice);
  }
}
