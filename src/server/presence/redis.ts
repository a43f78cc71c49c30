import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import type { NodeUserRow, NodeUserState, PresenceReplica, PresenceService } from './service.ts';

export interface RedisPresenceOptions {
  url: string;
  logger: Logger;
  /**
   * A node not heard from for this long (killed, or cut off from Redis) is gone: its
   * users leave the other nodes' presence. It heartbeats every third of it. @default 15000
   */
  nodeTtlMs?: number;
  prefix?: string;
}

const stateSchema = z.object({
  name: z.string(),
  lastActiveAt: z.number(),
  viewing: z.array(z.string()),
  typing: z.array(z.string()),
});
const rowSchema = z.tuple([z.string(), z.string(), stateSchema.nullable()]);
const messageSchema = z.union([
  z.object({ node: z.string(), beat: z.literal(true) }),
  z.object({ node: z.string(), bye: z.literal(true) }),
  z.object({ node: z.string(), rows: z.array(rowSchema) }),
  z.object({ node: z.string(), all: z.array(rowSchema) }),
]);
type Message = z.infer<typeof messageSchema>;

const SEP = '\u0000';

/**
 * Presence shared across nodes through Redis.
 *
 * Each node owns a hash `<prefix>:node:<nodeId>` holding its rows (field
 * `orgId\0userId` → `NodeUserState` as JSON) with a TTL of `nodeTtlMs`, and lists
 * itself in the sorted set `<prefix>:nodes`. A change of a row is written to the hash
 * and published on `<prefix>` in one MULTI (the rows changed within one event-loop
 * turn go as one message); every third of the TTL the node refreshes the hash's TTL
 * and publishes a beat. Every node keeps every other node's rows in its
 * PresenceService, which merges them with its own: one entry per user, viewers and
 * typing from every node, each org apart (rows are keyed by org and name records only
 * within it).
 *
 * A node not heard from (no beat, no change) for `nodeTtlMs` is dropped with its
 * users, and its hash expires in Redis by itself: `kill -9` costs the others one TTL
 * of ghosts. When Redis is unreachable nothing is published and nothing heard, so every
 * node falls back to its own connections after one TTL, while serving on; record
 * events never go through here. When both connections are ready again the node
 * resyncs: it rewrites its hash, publishes all its rows (`all`, which replaces what
 * the others hold of it) and reads every other node's hash, with the messages arriving
 * meanwhile queued and applied after, in order, so nothing older wins.
 */
export class RedisPresenceSync implements PresenceReplica {
  readonly #service: PresenceService;
  readonly #logger: Logger;
  readonly #ttlMs: number;
  readonly #channel: string;
  readonly #nodesKey: string;
  readonly #prefix: string;
  readonly #command: Redis;
  readonly #subscriber: Redis;
  readonly #heard = new Map<string, number>();
  readonly #dirty = new Set<string>();
  readonly #beat: ReturnType<typeof setInterval>;
  #flushScheduled = false;
  /** Subscribed and resynced: changes can be published one by one. */
  #live = false;
  #needsResync = true;
  #resyncing: Promise<void> | undefined;
  /** Messages that arrive during a resync, applied after its snapshot. */
  #queue: Message[] | undefined;
  #closed = false;

  constructor(service: PresenceService, options: RedisPresenceOptions) {
    this.#service = service;
    this.#logger = options.logger;
    this.#ttlMs = options.nodeTtlMs ?? 15_000;
    const prefix = options.prefix ?? 'tandem:presence';
    this.#channel = prefix;
    this.#nodesKey = `${prefix}:nodes`;
    this.#prefix = prefix;
    const connection = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (times: number) => Math.min(100 * times, 1_000) };
    // Commands while Redis is away fail at once instead of queueing: the resync on return covers them.
    this.#command = new Redis(options.url, { ...connection, enableOfflineQueue: false });
    this.#subscriber = new Redis(options.url, connection);
    this.#subscriber.on('message', (_channel: string, message: string) => this.#receive(message));
    for (const client of [this.#command, this.#subscriber]) {
      client.on('error', () => undefined);
      client.on('ready', () => void this.#resync());
      client.on('close', () => this.#onDown());
    }
    this.#beat = setInterval(() => void this.#tick(), Math.max(50, Math.floor(this.#ttlMs / 3)));
    this.#beat.unref();
    service.replicate(this);
  }

  /** The hash of a node's rows. */
  nodeKey(nodeId: string): string {
    return `${this.#prefix}:node:${nodeId}`;
  }

  /** Connects and takes in the other nodes' presence; when Redis is unreachable the node runs on its own until it comes. */
  async start(): Promise<void> {
    await Promise.all([this.#command.connect().catch(() => undefined), this.#subscriber.connect().catch(() => undefined)]);
    await this.#resync();
  }

  /** Shared with the other nodes: true while Redis carries this node's changes. */
  get isLive(): boolean {
    return this.#live;
  }

  localChanged(orgId: string, userId: string): void {
    this.#dirty.add(`${orgId}${SEP}${userId}`);
    if (this.#flushScheduled || !this.#live) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /** Leaves at once (the others drop this node's users now rather than after the TTL). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#live = false;
    clearInterval(this.#beat);
    if (this.#command.status === 'ready') {
      await this.#command
        .multi()
        .del(this.nodeKey(this.#service.nodeId))
        .zrem(this.#nodesKey, this.#service.nodeId)
        .publish(this.#channel, JSON.stringify({ node: this.#service.nodeId, bye: true }))
        .exec()
        .catch(() => undefined);
    }
    this.#command.disconnect();
    this.#subscriber.disconnect();
  }

  #flush() {
    this.#flushScheduled = false;
    if (!this.#live || this.#dirty.size === 0) return;
    const rows: [string, string, NodeUserState | null][] = [];
    const key = this.nodeKey(this.#service.nodeId);
    const multi = this.#command.multi();
    for (const dirty of this.#dirty) {
      const [orgId, userId] = dirty.split(SEP) as [string, string];
      const state = this.#service.localState(orgId, userId);
      rows.push([orgId, userId, state]);
      if (state) multi.hset(key, dirty, JSON.stringify(state));
      else multi.hdel(key, dirty);
    }
    this.#dirty.clear();
    multi.pexpire(key, this.#ttlMs).publish(this.#channel, JSON.stringify({ node: this.#service.nodeId, rows }));
    multi.exec().then(
      (results) => {
        if (results?.some(([error]) => error)) this.#lost('publishing presence failed');
      },
      (error: unknown) => this.#lost('publishing presence failed', error),
    );
  }

  /** A write did not make it: the next beat resyncs everything. */
  #lost(message: string, error?: unknown) {
    if (this.#closed) return;
    this.#needsResync = true;
    this.#live = false;
    this.#logger.debug(message, { err: error });
  }

  #onDown() {
    if (this.#closed || !this.#live) return;
    this.#live = false;
    this.#needsResync = true;
    this.#logger.warn('redis is unreachable: presence is this node’s own until it returns');
  }

  async #tick() {
    if (this.#closed) return;
    const now = Date.now();
    for (const [nodeId, heardAt] of this.#heard) {
      if (now - heardAt < this.#ttlMs) continue;
      this.#heard.delete(nodeId);
      this.#logger.info('a node went silent: its users leave presence', { node: nodeId });
      this.#service.dropNode(nodeId);
    }
    if (this.#needsResync) return void (await this.#resync());
    if (!this.#live) return;
    await this.#command
      .multi()
      .pexpire(this.nodeKey(this.#service.nodeId), this.#ttlMs)
      .zadd(this.#nodesKey, now, this.#service.nodeId)
      .publish(this.#channel, JSON.stringify({ node: this.#service.nodeId, beat: true }))
      .exec()
      .catch((error: unknown) => this.#lost('presence heartbeat failed', error));
  }

  /** One at a time (one that fails asks the next beat for another). */
  async #resync(): Promise<void> {
    if (this.#closed) return;
    if (this.#resyncing) return this.#resyncing;
    if (this.#command.status !== 'ready' || this.#subscriber.status !== 'ready') {
      this.#needsResync = true;
      return;
    }
    this.#needsResync = false;
    this.#resyncing = this.#runResync().finally(() => (this.#resyncing = undefined));
    return this.#resyncing;
  }

  async #runResync() {
    const self = this.#service.nodeId;
    const wasLive = this.#live;
    this.#live = false;
    this.#queue = [];
    try {
      await this.#subscriber.subscribe(this.#channel);
      // Everything this node has goes out now; what changes from here on is flushed after.
      this.#dirty.clear();
      const rows = this.#service.localRows();
      const key = this.nodeKey(self);
      const now = Date.now();
      const write = this.#command.multi().del(key);
      if (rows.length) write.hset(key, Object.fromEntries(rows.map(([orgId, userId, state]) => [`${orgId}${SEP}${userId}`, JSON.stringify(state)])));
      await write
        .pexpire(key, this.#ttlMs)
        .zadd(this.#nodesKey, now, self)
        .zremrangebyscore(this.#nodesKey, '-inf', now - 20 * this.#ttlMs)
        .publish(this.#channel, JSON.stringify({ node: self, all: rows }))
        .exec();
      const others = (await this.#command.zrange(this.#nodesKey, 0, -1)).filter((nodeId) => nodeId !== self);
      const seen = new Set<string>();
      for (const nodeId of others) {
        const hash = await this.#command.hgetall(this.nodeKey(nodeId));
        const theirs = parseRows(hash);
        if (theirs.length === 0) continue;
        seen.add(nodeId);
        this.#heard.set(nodeId, Date.now());
        this.#service.replaceNode(nodeId, theirs);
      }
      for (const nodeId of this.#service.remoteNodes()) {
        if (seen.has(nodeId)) continue;
        this.#heard.delete(nodeId);
        this.#service.dropNode(nodeId);
      }
      const queued = this.#queue;
      this.#queue = undefined;
      for (const message of queued) this.#handle(message);
      this.#live = true;
      if (!wasLive) this.#logger.info('presence is shared through redis', { node: self, otherNodes: seen.size });
      if (this.#dirty.size) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    } catch (error) {
      this.#queue = undefined;
      this.#lost('presence resync failed', error);
    }
  }

  #receive(raw: string) {
    let message: Message;
    try {
      message = messageSchema.parse(JSON.parse(raw));
    } catch (error) {
      this.#logger.warn('ignored a malformed presence message', { err: error });
      return;
    }
    if (message.node === this.#service.nodeId) return;
    if (this.#queue) this.#queue.push(message);
    else this.#handle(message);
  }

  #handle(message: Message) {
    const { node } = message;
    if ('bye' in message) {
      this.#heard.delete(node);
      this.#service.dropNode(node);
      return;
    }
    this.#heard.set(node, Date.now());
    if ('all' in message)
      this.#service.replaceNode(
        node,
        message.all.filter((row): row is NodeUserRow => row[2] !== null),
      );
    else if ('rows' in message) for (const [orgId, userId, state] of message.rows) this.#service.applyRemote(node, orgId, userId, state);
  }
}

/** A node's hash → its rows; a field that does not parse is skipped, not fatal. */
function parseRows(hash: Record<string, string>): NodeUserRow[] {
  const rows: NodeUserRow[] = [];
  for (const [field, value] of Object.entries(hash)) {
    const [orgId, userId] = field.split(SEP);
    if (!orgId || !userId) continue;
    try {
      rows.push([orgId, userId, stateSchema.parse(JSON.parse(value))]);
    } catch {
      // Written by another version or damaged: that user is simply missing until the node writes it again.
    }
  }
  return rows;
}
