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

interface Connection {
  id: string;
  user: PublicUser;
  /** Socket connections end when the socket closes; HTTP ones when their heartbeats stop. */
  expiresAt: number | null;
  viewing: Set<string>;
  typing: Map<string, { field: string | null; timer: ReturnType<typeof setTimeout> }>;
}

interface UserPresence {
  user: PublicUser;
  connections: Set<string>;
  lastActiveAt: number;
  status: PresenceStatus;
  since: number;
}

export type PresenceChange = PresenceEntry;

const recordKey = (orgId: string, module: string, recordId: string) => `${orgId}\u0000${module}\u0000${recordId}`;
const orgTopic = (orgId: string) => `org\u0000${orgId}`;
const recordTopic = (key: string) => `record\u0000${key}`;

/**
 * Who is online, idle or offline per org, who views which record and who types
 * where: in memory, keyed by org so nothing crosses orgs. A user is one entry however
 * many connections they have; they go offline when the last one closes.
 */
export class PresenceService {
  readonly topics = new Topics<PresenceChange | RecordActivity>();
  readonly #options: PresenceOptions;
  readonly #connections = new Map<string, Connection>();
  /** orgId → userId → presence */
  readonly #orgs = new Map<string, Map<string, UserPresence>>();
  readonly #sweep: ReturnType<typeof setInterval>;

  constructor(options: Partial<PresenceOptions> = {}) {
    this.#options = { ...defaultPresenceOptions, ...options };
    const every = Math.max(50, Math.min(this.#options.idleAfterMs / 4, 5_000));
    this.#sweep = setInterval(() => this.sweep(), every);
    this.#sweep.unref();
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const id of [...this.#connections.keys()]) this.disconnect(id);
  }

  /** A socket connection of `user` opened. */
  connect(connectionId: string, user: PublicUser, { expiresAt = null as number | null } = {}): void {
    if (this.#connections.has(connectionId)) return;
    this.#connections.set(connectionId, { id: connectionId, user, expiresAt, viewing: new Set(), typing: new Map() });
    const users = this.#orgs.get(user.orgId) ?? new Map<string, UserPresence>();
    this.#orgs.set(user.orgId, users);
    const now = Date.now();
    const presence = users.get(user.id);
    if (presence) {
      presence.connections.add(connectionId);
      presence.lastActiveAt = now;
      this.#setStatus(presence, 'online', now);
    } else {
      const fresh: UserPresence = { user, connections: new Set([connectionId]), lastActiveAt: now, status: 'online', since: now };
      users.set(user.id, fresh);
      this.#emitPresence(fresh);
    }
    // A socket makes the user's HTTP-only presence (from heartbeats sent before it opened) redundant.
    if (expiresAt === null) {
      for (const other of this.#connections.values()) {
        if (other.user.id === user.id && other.expiresAt !== null) this.disconnect(other.id);
      }
    }
  }

  /** The connection closed (or stopped answering): it leaves what it viewed and typed; the user goes offline with their last one. */
  disconnect(connectionId: string): void {
    const connection = this.#connections.get(connectionId);
    if (!connection) return;
    for (const key of [...connection.typing.keys()]) this.#stopTyping(connection, key);
    const viewed = [...connection.viewing];
    connection.viewing.clear();
    this.#connections.delete(connectionId);
    for (const key of viewed) this.#emitViewers(key);
    const users = this.#orgs.get(connection.user.orgId);
    const presence = users?.get(connection.user.id);
    if (!users || !presence) return;
    presence.connections.delete(connectionId);
    if (presence.connections.size === 0) {
      users.delete(connection.user.id);
      if (users.size === 0) this.#orgs.delete(connection.user.orgId);
      this.#setStatus(presence, 'offline', Date.now());
    }
  }

  /** An activity report; HTTP clients without a socket are connected by their heartbeats. */
  heartbeat(connectionId: string, user: PublicUser, active: boolean, { viaHttp = false } = {}): PresenceEntry {
    const now = Date.now();
    if (!this.#connections.has(connectionId)) this.connect(connectionId, user, { expiresAt: viaHttp ? now + this.#options.httpConnectionTtlMs : null });
    const connection = this.#connections.get(connectionId)!;
    if (connection.expiresAt !== null) connection.expiresAt = now + this.#options.httpConnectionTtlMs;
    const presence = this.#orgs.get(user.orgId)!.get(user.id)!;
    if (active) {
      presence.lastActiveAt = now;
      this.#setStatus(presence, 'online', now);
    }
    return toEntry(presence);
  }

  list(orgId: string): PresenceEntry[] {
    return [...(this.#orgs.get(orgId)?.values() ?? [])].map(toEntry);
  }

  view(connectionId: string, user: PublicUser, module: string, recordId: string): Viewer[] {
    const connection = this.#requireConnection(connectionId, user);
    const key = recordKey(user.orgId, module, recordId);
    if (!connection.viewing.has(key)) {
      connection.viewing.add(key);
      this.#emitViewers(key);
    }
    return this.viewers(key);
  }

  leave(connectionId: string, user: PublicUser, module: string, recordId: string): Viewer[] {
    const connection = this.#connections.get(connectionId);
    const key = recordKey(user.orgId, module, recordId);
    if (connection?.viewing.delete(key)) {
      for (const [typingKey] of connection.typing) if (typingKey.startsWith(`${key}\u0000`)) this.#stopTyping(connection, typingKey);
      this.#emitViewers(key);
    }
    return this.viewers(key);
  }

  startTyping(connectionId: string, user: PublicUser, module: string, recordId: string, field: string | null): void {
    const connection = this.#requireConnection(connectionId, user);
    const key = recordKey(user.orgId, module, recordId);
    const typingKey = `${key}\u0000${field ?? ''}`;
    const existing = connection.typing.get(typingKey);
    if (existing) clearTimeout(existing.timer);
    // Clears itself when no renewal comes, even if `stop` never does.
    const timer = setTimeout(() => this.#stopTyping(connection, typingKey), this.#options.typingTimeoutMs);
    timer.unref();
    connection.typing.set(typingKey, { field, timer });
    if (!existing) this.topics.publish(recordTopic(key), typingActivity(module, recordId, user, field, true));
  }

  stopTyping(connectionId: string, user: PublicUser, module: string, recordId: string, field: string | null): void {
    const connection = this.#connections.get(connectionId);
    if (connection) this.#stopTyping(connection, `${recordKey(user.orgId, module, recordId)}\u0000${field ?? ''}`);
  }

  /** Who views the record now, one entry per user. */
  viewers(key: string): Viewer[] {
    const seen = new Map<string, Viewer>();
    for (const connection of this.#connections.values()) {
      if (connection.viewing.has(key)) seen.set(connection.user.id, { userId: connection.user.id, name: connection.user.name });
    }
    return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  typers(key: string, module: string, recordId: string): RecordActivity[] {
    const out: RecordActivity[] = [];
    for (const connection of this.#connections.values()) {
      for (const [typingKey, { field }] of connection.typing) {
        if (typingKey.startsWith(`${key}\u0000`)) out.push(typingActivity(module, recordId, connection.user, field, true));
      }
    }
    return out;
  }

  recordKey = recordKey;
  orgTopic = orgTopic;
  recordTopic = recordTopic;

  /** Idle after no activity; HTTP connections whose heartbeats stopped are gone. */
  sweep(now = Date.now()): void {
    for (const connection of [...this.#connections.values()]) {
      if (connection.expiresAt !== null && connection.expiresAt <= now) this.disconnect(connection.id);
    }
    for (const users of this.#orgs.values()) {
      for (const presence of users.values()) {
        if (presence.status === 'online' && now - presence.lastActiveAt >= this.#options.idleAfterMs) this.#setStatus(presence, 'idle', now);
      }
    }
  }

  #requireConnection(connectionId: string, user: PublicUser): Connection {
    if (!this.#connections.has(connectionId)) this.heartbeat(connectionId, user, true, { viaHttp: true });
    return this.#connections.get(connectionId)!;
  }

  #stopTyping(connection: Connection, typingKey: string) {
    const typing = connection.typing.get(typingKey);
    if (!typing) return;
    clearTimeout(typing.timer);
    connection.typing.delete(typingKey);
    const [orgId, module, recordId] = typingKey.split('\u0000') as [string, string, string];
    this.topics.publish(recordTopic(recordKey(orgId, module, recordId)), typingActivity(module, recordId, connection.user, typing.field, false));
  }

  #emitViewers(key: string) {
    const [, module, recordId] = key.split('\u0000') as [string, string, string];
    this.topics.publish(recordTopic(key), { type: 'viewers', module, recordId, viewers: this.viewers(key) });
  }

  #setStatus(presence: UserPresence, status: PresenceStatus, now: number) {
    if (presence.status === status) return;
    presence.status = status;
    presence.since = now;
    this.#emitPresence(presence);
  }

  #emitPresence(presence: UserPresence) {
    this.topics.publish(orgTopic(presence.user.orgId), toEntry(presence));
  }
}

function toEntry(presence: UserPresence): PresenceEntry {
  return { userId: presence.user.id, name: presence.user.name, status: presence.status, since: new Date(presence.since).toISOString() };
}

function typingActivity(module: string, recordId: string, user: PublicUser, field: string | null, typing: boolean): RecordActivity {
  return { type: 'typing', module, recordId, userId: user.id, name: user.name, field, typing };
}
