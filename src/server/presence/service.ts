import { randomUUID } from 'node:crypto';
import type { PublicUser } from '../../shared/auth.ts';
import type { PresenceEntry, PresenceStatus, RecordActivity, Viewer } from '../../shared/presence.ts';
import { Topics } from '../pubsub/topics.ts';

export interface PresenceOptions {
  /** No activity reported for this long: `idle`. @default 5 minutes */
  idleAfterMs: number;
  /** A typing state clears itself after this long without renewal. @default 3000 */
  typingTimeoutMs: number;
  /** Connections without a socket (HTTP heartbeats) count as gone after this long without one. @default 60000 */
  httpConnectionTtlMs: number;
}

export const defaultPresenceOptions: PresenceOptions = { idleAfterMs: 5 * 60_000, typingTimeoutMs: 3_000, httpConnectionTtlMs: 60_000 };

/**
 * One user's presence on one node, summed over that node's connections of the user:
 * the unit a node shares with the others (and keeps for itself). Records are named
 * relative to the org (`module\0recordId`), so a state can only ever touch its own org.
 */
export interface NodeUserState {
  name: string;
  /** Epoch ms of the user's last reported activity on that node. */
  lastActiveAt: number;
  /** `module\0recordId` of each record viewed. */
  viewing: string[];
  /** `module\0recordId\0field` of each typing state ('' field: the record as a whole). */
  typing: string[];
}

/** `[orgId, userId, state]`: one row of a node's presence. */
export type NodeUserRow = [orgId: string, userId: string, state: NodeUserState];

/** Carries this node's presence to the other nodes (see `./redis.ts`). */
export interface PresenceReplica {
  /** This node's state of the user changed; read it with `localState`. */
  localChanged(orgId: string, userId: string): void;
  close(): Promise<void>;
}

interface Connection {
  id: string;
  user: PublicUser;
  /** Socket connections end when the socket closes; HTTP ones when their heartbeats stop. */
  expiresAt: number | null;
  /** `module\0recordId`; made on first use (most connections never view a record: 0.3 KB each otherwise). */
  viewing?: Set<string>;
  /** `module\0recordId\0field` → its self-clearing timer; made on first use. */
  typing?: Map<string, ReturnType<typeof setTimeout>>;
}

/** This node's connections of one user. */
interface LocalUser {
  user: PublicUser;
  connections: Set<string>;
  lastActiveAt: number;
  /** The `lastActiveAt` last handed to the replica: activity alone is shared only now and then. */
  sharedActiveAt: number;
}

/** The one entry of a user, merged over every node that has them. */
interface UserPresence {
  orgId: string;
  userId: string;
  name: string;
  lastActiveAt: number;
  status: PresenceStatus;
  since: number;
}

/** Who holds a mark (viewing a record, typing in a field): users, each on some nodes. */
interface Holder {
  userId: string;
  name: string;
  field: string | null;
  nodes: Set<string>;
}

export type PresenceChange = PresenceEntry;

type MarkKind = 'viewing' | 'typing';

const SEP = '\u0000';
const recordKey = (orgId: string, module: string, recordId: string) => `${orgId}${SEP}${module}${SEP}${recordId}`;
const orgTopic = (orgId: string) => `org${SEP}${orgId}`;
const recordTopic = (key: string) => `record${SEP}${key}`;
const userKey = (orgId: string, userId: string) => `${orgId}${SEP}${userId}`;

/**
 * Who is online, idle or offline per org, who views which record and who types
 * where, keyed by org so nothing crosses orgs. A user is one entry however many
 * connections they have, on however many nodes; they go offline when the last one closes.
 *
 * Every node's presence is kept as rows of `NodeUserState` per (node, org, user): this
 * node's rows are derived from its own connections, other nodes' rows come from a
 * replica (Redis, when several nodes run) through `applyRemote`, `replaceNode` and
 * `dropNode`. Lists, viewers, typing and the change stream are all computed from the
 * merged rows, so one node alone (no replica) is the same code with one node.
 */
export class PresenceService {
  readonly topics = new Topics<PresenceChange | RecordActivity>();
  /** This node, as the replica names it to the others. */
  readonly nodeId = randomUUID();
  readonly #options: PresenceOptions;
  readonly #connections = new Map<string, Connection>();
  /** userKey → this node's connections of the user */
  readonly #local = new Map<string, LocalUser>();
  /** orgId → userId → nodeId → state: every node's rows, this one's included */
  readonly #rows = new Map<string, Map<string, Map<string, NodeUserState>>>();
  /** nodeId → userKeys it has rows for, to drop a node in O(its users) */
  readonly #byNode = new Map<string, Set<string>>();
  /** orgId → userId → merged entry */
  readonly #users = new Map<string, Map<string, UserPresence>>();
  /** recordKey → userId → holder */
  readonly #viewers = new Map<string, Map<string, Holder>>();
  /** recordKey → `userId\0field` → holder */
  readonly #typers = new Map<string, Map<string, Holder>>();
  readonly #sweep: ReturnType<typeof setInterval>;
  #replica: PresenceReplica | undefined;

  constructor(options: Partial<PresenceOptions> = {}) {
    this.#options = { ...defaultPresenceOptions, ...options };
    const every = Math.max(50, Math.min(this.#options.idleAfterMs / 4, 5_000));
    this.#sweep = setInterval(() => this.sweep(), every);
    this.#sweep.unref();
  }

  /** From now on this node's changes go to `replica` too. */
  replicate(replica: PresenceReplica): void {
    this.#replica = replica;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const id of [...this.#connections.keys()]) this.disconnect(id);
    await this.#replica?.close();
  }

  /** A socket connection of `user` opened. */
  connect(connectionId: string, user: PublicUser, { expiresAt = null as number | null } = {}): void {
    if (this.#connections.has(connectionId)) return;
    this.#connections.set(connectionId, { id: connectionId, user, expiresAt });
    const key = userKey(user.orgId, user.id);
    const now = Date.now();
    const local = this.#local.get(key) ?? { user, connections: new Set<string>(), lastActiveAt: now, sharedActiveAt: 0 };
    this.#local.set(key, local);
    local.connections.add(connectionId);
    local.lastActiveAt = now;
    this.#syncLocal(user.orgId, user.id);
    // A socket makes the user's HTTP-only presence (from heartbeats sent before it opened) redundant.
    if (expiresAt === null) {
      for (const id of [...local.connections]) {
        if (this.#connections.get(id)?.expiresAt != null) this.disconnect(id);
      }
    }
  }

  /** The connection closed (or stopped answering): it leaves what it viewed and typed; the user goes offline with their last one. */
  disconnect(connectionId: string): void {
    const connection = this.#connections.get(connectionId);
    if (!connection) return;
    for (const timer of connection.typing?.values() ?? []) clearTimeout(timer);
    this.#connections.delete(connectionId);
    const { orgId, id: userId } = connection.user;
    const local = this.#local.get(userKey(orgId, userId));
    local?.connections.delete(connectionId);
    if (local?.connections.size === 0) this.#local.delete(userKey(orgId, userId));
    this.#syncLocal(orgId, userId);
  }

  /** An activity report; HTTP clients without a socket are connected by their heartbeats. */
  heartbeat(connectionId: string, user: PublicUser, active: boolean, { viaHttp = false } = {}): PresenceEntry {
    const now = Date.now();
    if (!this.#connections.has(connectionId)) this.connect(connectionId, user, { expiresAt: viaHttp ? now + this.#options.httpConnectionTtlMs : null });
    const connection = this.#connections.get(connectionId)!;
    if (connection.expiresAt !== null) connection.expiresAt = now + this.#options.httpConnectionTtlMs;
    if (active) {
      this.#local.get(userKey(user.orgId, user.id))!.lastActiveAt = now;
      this.#syncLocal(user.orgId, user.id);
    }
    return toEntry(this.#users.get(user.orgId)!.get(user.id)!);
  }

  list(orgId: string): PresenceEntry[] {
    return [...(this.#users.get(orgId)?.values() ?? [])].map(toEntry);
  }

  view(connectionId: string, user: PublicUser, module: string, recordId: string): Viewer[] {
    const connection = this.#requireConnection(connectionId, user);
    const ref = `${module}${SEP}${recordId}`;
    connection.viewing ??= new Set();
    if (!connection.viewing.has(ref)) {
      connection.viewing.add(ref);
      this.#syncLocal(user.orgId, user.id);
    }
    return this.viewers(recordKey(user.orgId, module, recordId));
  }

  leave(connectionId: string, user: PublicUser, module: string, recordId: string): Viewer[] {
    const connection = this.#connections.get(connectionId);
    const ref = `${module}${SEP}${recordId}`;
    if (connection?.viewing?.delete(ref)) {
      for (const [typingRef, timer] of connection.typing ?? []) {
        if (typingRef.startsWith(`${ref}${SEP}`)) {
          clearTimeout(timer);
          connection.typing?.delete(typingRef);
        }
      }
      this.#syncLocal(user.orgId, user.id);
    }
    return this.viewers(recordKey(user.orgId, module, recordId));
  }

  startTyping(connectionId: string, user: PublicUser, module: string, recordId: string, field: string | null): void {
    const connection = this.#requireConnection(connectionId, user);
    const typingRef = `${module}${SEP}${recordId}${SEP}${field ?? ''}`;
    const existing = connection.typing?.get(typingRef);
    if (existing) clearTimeout(existing);
    // Clears itself when no renewal comes, even if `stop` never does.
    const timer = setTimeout(() => this.#stopTyping(connection, typingRef), this.#options.typingTimeoutMs);
    timer.unref();
    (connection.typing ??= new Map()).set(typingRef, timer);
    if (!existing) this.#syncLocal(user.orgId, user.id);
  }

  stopTyping(connectionId: string, _user: PublicUser, module: string, recordId: string, field: string | null): void {
    const connection = this.#connections.get(connectionId);
    if (connection) this.#stopTyping(connection, `${module}${SEP}${recordId}${SEP}${field ?? ''}`);
  }

  /** Who views the record now, one entry per user, on any node. */
  viewers(key: string): Viewer[] {
    const holders = [...(this.#viewers.get(key)?.values() ?? [])];
    return holders.map(({ userId, name }) => ({ userId, name })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Who types in the record now, one item per user and field, on any node. */
  typers(key: string, module: string, recordId: string): RecordActivity[] {
    return [...(this.#typers.get(key)?.values() ?? [])].map((holder) => typingActivity(module, recordId, holder, true));
  }

  recordKey = recordKey;
  orgTopic = orgTopic;
  recordTopic = recordTopic;

  /** Idle after no activity (on any node); HTTP connections whose heartbeats stopped are gone. */
  sweep(now = Date.now()): void {
    for (const connection of [...this.#connections.values()]) {
      if (connection.expiresAt !== null && connection.expiresAt <= now) this.disconnect(connection.id);
    }
    for (const users of this.#users.values()) {
      for (const presence of users.values()) {
        if (presence.status === 'online' && now - presence.lastActiveAt >= this.#options.idleAfterMs) this.#setStatus(presence, 'idle', now);
      }
    }
  }

  // ---- Replication: what a replica reads from this node and feeds in from the others.

  /** This node's row of the user, or null when the user has no connection here. */
  localState(orgId: string, userId: string): NodeUserState | null {
    return this.#rows.get(orgId)?.get(userId)?.get(this.nodeId) ?? null;
  }

  /** Every row of this node. */
  localRows(): NodeUserRow[] {
    return this.#rowsOf(this.nodeId);
  }

  /** Another node's row of one user changed (`null`: the user left that node). */
  applyRemote(nodeId: string, orgId: string, userId: string, state: NodeUserState | null): void {
    if (nodeId !== this.nodeId) this.#apply(nodeId, orgId, userId, state);
  }

  /** Another node's rows, all of them: what it no longer lists is gone. */
  replaceNode(nodeId: string, rows: Iterable<NodeUserRow>): void {
    if (nodeId === this.nodeId) return;
    const stale = new Set(this.#byNode.get(nodeId));
    for (const [orgId, userId, state] of rows) {
      stale.delete(userKey(orgId, userId));
      this.#apply(nodeId, orgId, userId, state);
    }
    for (const key of stale) {
      const [orgId, userId] = key.split(SEP) as [string, string];
      this.#apply(nodeId, orgId, userId, null);
    }
  }

  /** Another node is gone (shut down, or silent past its expiry): its users leave with it. */
  dropNode(nodeId: string): void {
    this.replaceNode(nodeId, []);
  }

  /** The nodes (this one's `nodeId` included) where the user has a connection, as this node knows. */
  nodesOf(orgId: string, userId: string): string[] {
    return [...(this.#rows.get(orgId)?.get(userId)?.keys() ?? [])];
  }

  /** The other nodes this node holds rows of. */
  remoteNodes(): string[] {
    return [...this.#byNode.keys()].filter((nodeId) => nodeId !== this.nodeId);
  }

  #rowsOf(nodeId: string): NodeUserRow[] {
    const rows: NodeUserRow[] = [];
    for (const key of this.#byNode.get(nodeId) ?? []) {
      const [orgId, userId] = key.split(SEP) as [string, string];
      const state = this.#rows.get(orgId)?.get(userId)?.get(nodeId);
      if (state) rows.push([orgId, userId, state]);
    }
    return rows;
  }

  #requireConnection(connectionId: string, user: PublicUser): Connection {
    if (!this.#connections.has(connectionId)) this.heartbeat(connectionId, user, true, { viaHttp: true });
    return this.#connections.get(connectionId)!;
  }

  #stopTyping(connection: Connection, typingRef: string) {
    const timer = connection.typing?.get(typingRef);
    if (timer === undefined) return;
    clearTimeout(timer);
    connection.typing?.delete(typingRef);
    this.#syncLocal(connection.user.orgId, connection.user.id);
  }

  /** Recomputes this node's row of the user from its connections, applies it, and tells the replica when it matters. */
  #syncLocal(orgId: string, userId: string) {
    const local = this.#local.get(userKey(orgId, userId));
    const before = this.localState(orgId, userId);
    let state: NodeUserState | null = null;
    if (local) {
      const viewing = new Set<string>();
      const typing = new Set<string>();
      for (const id of local.connections) {
        const connection = this.#connections.get(id)!;
        for (const ref of connection.viewing ?? []) viewing.add(ref);
        for (const ref of connection.typing?.keys() ?? []) typing.add(ref);
      }
      state = { name: local.user.name, lastActiveAt: local.lastActiveAt, viewing: [...viewing].sort(), typing: [...typing].sort() };
    }
    this.#apply(this.nodeId, orgId, userId, state);
    if (!this.#replica) return;
    // Activity alone is shared at most every tenth of the idle time: the others may then
    // see the user idle that much early, for far fewer messages.
    if (local && before && state && sameMarks(before, state)) {
      if (state.lastActiveAt === before.lastActiveAt || state.lastActiveAt - local.sharedActiveAt < this.#options.idleAfterMs / 10) return;
    }
    if (local) local.sharedActiveAt = local.lastActiveAt;
    this.#replica.localChanged(orgId, userId);
  }

  /** Sets one row and emits what it changes, in the order a leaving connection reads best: typing, viewers, status. */
  #apply(nodeId: string, orgId: string, userId: string, state: NodeUserState | null) {
    const users = this.#rows.get(orgId) ?? new Map<string, Map<string, NodeUserState>>();
    const nodes = users.get(userId) ?? new Map<string, NodeUserState>();
    const before = nodes.get(nodeId) ?? null;
    if (!before && !state) return;
    const key = userKey(orgId, userId);
    const ofNode = this.#byNode.get(nodeId) ?? new Set<string>();
    if (state) {
      nodes.set(nodeId, state);
      users.set(userId, nodes);
      this.#rows.set(orgId, users);
      ofNode.add(key);
      this.#byNode.set(nodeId, ofNode);
    } else {
      nodes.delete(nodeId);
      if (nodes.size === 0) users.delete(userId);
      if (users.size === 0) this.#rows.delete(orgId);
      ofNode.delete(key);
      if (ofNode.size === 0) this.#byNode.delete(nodeId);
    }
    const name = state?.name ?? before!.name;
    const was = { viewing: new Set(before?.viewing), typing: new Set(before?.typing) };
    const now = { viewing: new Set(state?.viewing), typing: new Set(state?.typing) };
    for (const ref of was.typing) if (!now.typing.has(ref)) this.#unmark('typing', orgId, ref, userId, nodeId, name);
    for (const ref of now.typing) if (!was.typing.has(ref)) this.#mark('typing', orgId, ref, userId, nodeId, name);
    for (const ref of was.viewing) if (!now.viewing.has(ref)) this.#unmark('viewing', orgId, ref, userId, nodeId, name);
    for (const ref of now.viewing) if (!was.viewing.has(ref)) this.#mark('viewing', orgId, ref, userId, nodeId, name);
    this.#refreshUser(orgId, userId, name);
  }

  /** A user starts viewing (or typing in) something on a node; subscribers hear when it is the user's first node there. */
  #mark(kind: MarkKind, orgId: string, ref: string, userId: string, nodeId: string, name: string) {
    const { key, module, recordId, field, holderKey } = parseRef(orgId, ref, userId);
    const index = this.#index(kind);
    const holders = index.get(key) ?? new Map<string, Holder>();
    index.set(key, holders);
    const holder = holders.get(holderKey);
    if (holder) return void holder.nodes.add(nodeId);
    const fresh: Holder = { userId, name, field, nodes: new Set([nodeId]) };
    holders.set(holderKey, fresh);
    this.#emitRecord(kind, key, module, recordId, fresh, true);
  }

  #unmark(kind: MarkKind, orgId: string, ref: string, userId: string, nodeId: string, name: string) {
    const { key, module, recordId, holderKey } = parseRef(orgId, ref, userId);
    const index = this.#index(kind);
    const holders = index.get(key);
    const holder = holders?.get(holderKey);
    if (!holders || !holder?.nodes.delete(nodeId) || holder.nodes.size > 0) return;
    holders.delete(holderKey);
    if (holders.size === 0) index.delete(key);
    this.#emitRecord(kind, key, module, recordId, { ...holder, name }, false);
  }

  #index(kind: MarkKind) {
    return kind === 'typing' ? this.#typers : this.#viewers;
  }

  #emitRecord(kind: MarkKind, key: string, module: string, recordId: string, holder: Holder, typing: boolean) {
    const activity: RecordActivity = kind === 'typing' ? typingActivity(module, recordId, holder, typing) : { type: 'viewers', module, recordId, viewers: this.viewers(key) };
    this.topics.publish(recordTopic(key), activity);
  }

  /** The user's one entry from every node's row: present while any node has them, active as of the latest activity anywhere. */
  #refreshUser(orgId: string, userId: string, name: string) {
    const rows = this.#rows.get(orgId)?.get(userId);
    const users = this.#users.get(orgId) ?? new Map<string, UserPresence>();
    const presence = users.get(userId);
    const now = Date.now();
    if (!rows) {
      if (!presence) return;
      users.delete(userId);
      if (users.size === 0) this.#users.delete(orgId);
      this.#setStatus(presence, 'offline', now);
      return;
    }
    let lastActiveAt = 0;
    for (const row of rows.values()) lastActiveAt = Math.max(lastActiveAt, row.lastActiveAt);
    const status = now - lastActiveAt >= this.#options.idleAfterMs ? 'idle' : 'online';
    if (!presence) {
      const fresh: UserPresence = { orgId, userId, name, lastActiveAt, status, since: now };
      users.set(userId, fresh);
      this.#users.set(orgId, users);
      this.topics.publish(orgTopic(orgId), toEntry(fresh));
      return;
    }
    presence.lastActiveAt = lastActiveAt;
    this.#setStatus(presence, status, now);
  }

  #setStatus(presence: UserPresence, status: PresenceStatus, now: number) {
    if (presence.status === status) return;
    presence.status = status;
    presence.since = now;
    this.topics.publish(orgTopic(presence.orgId), toEntry(presence));
  }
}

function sameMarks(a: NodeUserState, b: NodeUserState): boolean {
  return a.name === b.name && sameList(a.viewing, b.viewing) && sameList(a.typing, b.typing);
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** `module\0recordId` (viewing) or `module\0recordId\0field` (typing), within an org. */
function parseRef(orgId: string, ref: string, userId: string) {
  const [module = '', recordId = '', field] = ref.split(SEP);
  return {
    key: recordKey(orgId, module, recordId),
    module,
    recordId,
    field: field ? field : null,
    holderKey: field === undefined ? userId : `${userId}${SEP}${field}`,
  };
}

function toEntry(presence: UserPresence): PresenceEntry {
  return { userId: presence.userId, name: presence.name, status: presence.status, since: new Date(presence.since).toISOString() };
}

function typingActivity(module: string, recordId: string, holder: Pick<Holder, 'userId' | 'name' | 'field'>, typing: boolean): RecordActivity {
  return { type: 'typing', module, recordId, userId: holder.userId, name: holder.name, field: holder.field, typing };
}
