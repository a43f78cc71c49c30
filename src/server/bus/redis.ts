import { Redis } from 'ioredis';
import type { LogEvent } from '../../shared/events.ts';
import type { Db } from '../db/client.ts';
import { readAllEventsAfter, readEventsAfter } from '../events/log.ts';
import type { Logger } from '../logger.ts';
import { InProcessBus } from './memory.ts';
import { OrgSequencer } from './sequencer.ts';
import type { BusSubscription, EventBus, SubscribeOptions } from './types.ts';

export interface RedisBusOptions {
  url: string;
  db: Db;
  logger: Logger;
  /** How often the log is tailed while Redis is unreachable. @default 250 */
  pollMs?: number;
  channel?: string;
}

/** How far back each tail of the log looks, for events whose commit came after a higher seq of another org. */
const TAIL_LOOKBACK = 200;
const TAIL_PAGE = 1000;
/** Events kept for publishing when Redis is back (see `#keepUnsent`). */
const MAX_UNSENT = 1000;

/**
 * The bus across nodes. A committed event goes to this node's subscribers at once
 * and to the other nodes through Redis pub/sub; every node passes what it receives
 * through an OrgSequencer, so its subscribers see each org's events in seq order,
 * once, gaps filled from the log. When Redis is unreachable the node tails the
 * database's log instead, and switches back when Redis returns: the log stays the
 * source of truth, Redis only carries wake-ups and low-latency fan-out.
 */
export class RedisBus implements EventBus {
  readonly #local = new InProcessBus();
  readonly #sequencer: OrgSequencer;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #options: Required<Omit<RedisBusOptions, 'db' | 'logger'>> & Pick<RedisBusOptions, 'db' | 'logger'>;
  #tailTimer: ReturnType<typeof setTimeout> | undefined;
  #tailing = false;
  #tailCursor = 0;
  #closed = false;
  readonly #unsent: string[] = [];

  constructor(options: RedisBusOptions) {
    this.#options = { pollMs: 250, channel: 'tandem:events', ...options };
    const { db, logger } = options;
    this.#sequencer = new OrgSequencer({
      deliver: (event) => this.#local.publish(event),
      readGap: (orgId, afterSeq, throughSeq) =>
        readEventsAfter(db, { orgId, afterSeq, limit: Math.min(10_000, throughSeq - afterSeq) }).then((events) => events.filter((event) => event.seq <= throughSeq)),
      onError: (error) => logger.error('filling an event gap failed', { err: error }),
    });
    const connection = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (times: number) => Math.min(100 * times, 1_000) };
    // Publishing while Redis is away must fail fast, not queue: the other nodes tail the log meanwhile.
    this.#publisher = new Redis(options.url, { ...connection, enableOfflineQueue: false });
    this.#subscriber = new Redis(options.url, connection);
    this.#subscriber.on('message', (_channel: string, message: string) => this.#receive(message));
    this.#subscriber.on('ready', () => void this.#onRedisUp());
    this.#subscriber.on('close', () => this.#onRedisDown());
    this.#publisher.on('error', () => undefined);
    this.#publisher.on('ready', () => this.#publishUnsent());
    this.#subscriber.on('error', () => undefined);
  }

  /** Connects; when Redis is unreachable at start the node tails the log until it comes. */
  async start(): Promise<void> {
    this.#tailCursor = await this.#head();
    await this.#publisher.connect().catch(() => undefined);
    await this.#subscriber.connect().catch(() => this.#onRedisDown());
  }

  get isTailingLog(): boolean {
    return this.#tailing;
  }

  publish(event: LogEvent, prevSeq = 0): void {
    this.#sequencer.accept(event, prevSeq);
    const message = JSON.stringify({ event, prevSeq });
    if (this.#publisher.status === 'ready') this.#publisher.publish(this.#options.channel, message).catch(() => this.#keepUnsent(message));
    else this.#keepUnsent(message);
  }

  /**
   * An event this node could not publish (Redis away, or its own connection not back yet)
   * is published once its connection is ready again. Another node that came back first
   * has stopped tailing the log, and would otherwise not see the event until the org's
   * next one showed the gap. Bounded: past it the oldest are left to that gap filling.
   */
  #keepUnsent(message: string): void {
    this.#unsent.push(message);
    if (this.#unsent.length > MAX_UNSENT) this.#unsent.shift();
  }

  #publishUnsent(): void {
    const unsent = this.#unsent.splice(0);
    // Receivers drop what they already have (OrgSequencer): sending one twice is harmless.
    for (const message of unsent) this.#publisher.publish(this.#options.channel, message).catch(() => this.#keepUnsent(message));
  }

  subscribe(orgId: string, options: SubscribeOptions): BusSubscription {
    return this.#local.subscribe(orgId, options);
  }

  listenerCount(orgId?: string): number {
    return this.#local.listenerCount(orgId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#tailTimer);
    this.#publisher.disconnect();
    this.#subscriber.disconnect();
  }

  #receive(message: string) {
    try {
      const { event, prevSeq } = JSON.parse(message) as { event: LogEvent; prevSeq: number };
      this.#sequencer.accept(event, prevSeq);
    } catch (error) {
      this.#options.logger.warn('ignored a malformed bus message', { err: error });
    }
  }

  async #onRedisUp() {
    await this.#subscriber.subscribe(this.#options.channel);
    if (this.#tailing) this.#options.logger.info('redis is back: live fan-out resumes');
    this.#tailing = false;
    clearTimeout(this.#tailTimer);
    // Whatever was published while the subscription was down is read once from the log.
    await this.#tailOnce();
  }

  #onRedisDown() {
    if (this.#tailing || this.#closed) return;
    this.#tailing = true;
    this.#options.logger.warn('redis is unreachable: tailing the event log');
    const loop = async () => {
      if (!this.#tailing || this.#closed) return;
      await this.#tailOnce();
      this.#tailTimer = setTimeout(() => void loop(), this.#options.pollMs);
    };
    void loop();
  }

  async #tailOnce() {
    try {
      const from = Math.max(0, Math.max(this.#tailCursor, this.#sequencer.highestSeq) - TAIL_LOOKBACK);
      const rows = await readAllEventsAfter(this.#options.db, from, TAIL_PAGE);
      for (const { event, prevSeq } of rows) this.#sequencer.accept(event, prevSeq);
      if (rows.length) this.#tailCursor = Math.max(this.#tailCursor, rows.at(-1)!.event.seq);
    } catch (error) {
      this.#options.logger.error('tailing the event log failed', { err: error });
    }
  }

  async #head(): Promise<number> {
    const last = await this.#options.db.event.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } });
    return last?.seq ?? 0;
  }
}
