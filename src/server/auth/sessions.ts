import { TRPCError } from '@trpc/server';
import type { PublicUser, Role } from '../../shared/auth.ts';
import type { Db, Tx } from '../db/client.ts';
import { endExpiredWatchesNow } from '../events/expiry.ts';
import type { Logger } from '../logger.ts';
import type { SessionChannel, SessionNotice } from './session-channel.ts';
import type { TokenService } from './tokens.ts';

/**
 * A signed-in user as one connection (or one HTTP request) holds them. Over a WebSocket
 * it lives as long as the connection, and a revocation, deactivation or role change
 * seen by this node updates it in place: every call checks it (trpc.ts, authedProcedure)
 * and every subscription watches it (events/expiry.ts).
 */
export interface Session {
  /** The Session row (the token's `sid`). */
  id: string;
  user: PublicUser;
  /** When the token stops being valid, in ms; checked on every call. 0 once the session was ended (see `endedBy`). */
  expiresAt: number;
  /** Why the session was ended on this node: what its calls and subscriptions are refused with. */
  endedBy: string | null;
  /** The WebSocket connection holding it while followed (`track`); null over HTTP. */
  connectionId: string | null;
}

export const SESSION_ENDED = {
  revoked: 'This session was signed out or revoked; sign in again',
  inactive: 'This account was deactivated or removed',
  maxAge: 'This session has reached its maximum age; sign in again',
} as const;

export interface SessionServiceOptions {
  db: Db;
  tokens: TokenService;
  channel: SessionChannel;
  logger: Logger;
  /** A session's absolute lifetime: no refresh goes past it. */
  maxAgeMs: number;
  /** How often the sessions of this node's open connections are checked against the database. */
  checkEveryMs: number;
  /** How long a session's state is reused for new connections and HTTP requests (notices clear it at once). @default 5000 */
  cacheMs?: number;
  /** A followed WebSocket connection's session was ended (e.g. to leave presence); registered at bootstrap. */
  onConnectionEnded?: (connectionId: string) => void;
}

/** A session's row with its user, as the checks need it. */
interface SessionState {
  userId: string;
  orgId: string;
  expiresAt: number;
  revoked: boolean;
  /** Null when the user was deleted or is deactivated. */
  user: PublicUser | null;
}

const CACHE_MAX = 10_000;
/** Ids per query of the periodic check. */
const CHECK_PAGE = 500;
/** Sessions ended here in the last minute: a connection that was being set up while its notice came is ended when it registers. */
const RECENTLY_ENDED_MS = 60_000;

const stateSelect = {
  userId: true,
  orgId: true,
  expiresAt: true,
  revokedAt: true,
  user: { select: { id: true, orgId: true, email: true, name: true, role: true, deactivatedAt: true, org: { select: { name: true } } } },
} as const;

/**
 * Server-side sessions: what a token names, what ends it, and how an end reaches every
 * open connection of every node.
 *
 * Cost on the hot path: none. A call over a WebSocket checks its connection's `Session`
 * in memory (as it checked the token's expiry before). A new connection or an HTTP
 * request reads the session's state from a cache of `cacheMs` (as the user's row was
 * cached before), which notices clear at once. What keeps the in-memory state true:
 * - a change made through the API is committed, then published on the channel (in
 *   process, or Redis with BUS=redis); each node ends or updates the affected sessions
 *   of its open connections (for a user change it reads their rows once);
 * - every `checkEveryMs` each node reads the rows of its open connections' sessions
 *   (pages of indexed ids; nothing when it has none): what no notice announced (a
 *   user deleted in the database, a notice lost while Redis was down) is seen then.
 */
export class SessionService {
  readonly #options: Required<Omit<SessionServiceOptions, 'onConnectionEnded'>> & Pick<SessionServiceOptions, 'onConnectionEnded'>;
  readonly #cache = new Map<string, { state: SessionState | null; until: number }>();
  /** Bumped by every invalidation: a lookup that started before one does not cache what it read. */
  #generation = 0;
  /**
   * Followed sessions of this node by session id and by user. A connection's `Session`
   * is the entry itself (no wrapper or closure per connection: at 100k idle sockets
   * every object counts).
   */
  readonly #live = new Map<string, Set<Session>>();
  readonly #liveByUser = new Map<string, Set<Session>>();
  readonly #recentlyEnded = new Map<string, { message: string; at: number }>();
  readonly #timer: ReturnType<typeof setInterval>;
  #checking: Promise<void> | undefined;

  constructor(options: SessionServiceOptions) {
    this.#options = { ...options, cacheMs: options.cacheMs ?? 5_000 };
    options.channel.listen({ notice: (notice) => this.#onNotice(notice), resync: () => this.#resync() });
    this.#timer = setInterval(() => void this.checkLiveSessions(), options.checkEveryMs);
    this.#timer.unref?.();
  }

  /** A new session of the user (its row; `sign` gives its token). Pass `tx` to create it in a caller's transaction, and sign after that commits. */
  async create(user: { id: string; orgId: string }, tx: Db | Tx = this.#options.db) {
    const row = await tx.session.create({
      data: { userId: user.id, orgId: user.orgId, expiresAt: new Date(Date.now() + this.#options.maxAgeMs) },
      select: { id: true, expiresAt: true },
    });
    return { sessionId: row.id, sessionExpiresAt: row.expiresAt.getTime() };
  }

  /** A token for a session created by `create`. */
  sign(user: { id: string; orgId: string }, session: { sessionId: string; sessionExpiresAt: number }) {
    return this.#options.tokens.sign({ userId: user.id, orgId: user.orgId, sessionId: session.sessionId, notAfter: session.sessionExpiresAt });
  }

  /** `create` then `sign`: a new session and its token. */
  async signIn(user: { id: string; orgId: string }) {
    const session = await this.create(user);
    return { ...(await this.sign(user, session)), sessionId: session.sessionId };
  }

  /** The session a token names, when the token, its session and its user are all valid; else null. */
  async resolve(token: string): Promise<Session | null> {
    const claims = await this.#options.tokens.verify(token);
    if (!claims) return null;
    const state = await this.#cachedState(claims.sessionId);
    if (!state || !isUsable(state) || state.userId !== claims.userId || state.orgId !== claims.orgId || state.user!.orgId !== claims.orgId) return null;
    // A copy of the user: a connection's session is changed in place, the cached state is shared.
    return { id: claims.sessionId, user: { ...state.user! }, expiresAt: Math.min(claims.expiresAt, state.expiresAt), endedBy: null, connectionId: null };
  }

  /**
   * A new token for the session, read from the database (not the cache): refused when
   * the session was revoked, its user deactivated or deleted, or it reached its maximum
   * age. The token never outlives the session.
   */
  async refresh(session: Session): Promise<{ token: string; expiresAt: number }> {
    const state = await this.#readState(session.id);
    if (!state || state.revoked) throw unauthorized(SESSION_ENDED.revoked);
    if (!state.user) throw unauthorized(SESSION_ENDED.inactive);
    // Under a second left: the token (whole seconds) would be born expired.
    if (state.expiresAt - Date.now() < 1_000) throw unauthorized(SESSION_ENDED.maxAge);
    await this.#options.db.session.update({ where: { id: session.id }, data: { lastUsedAt: new Date() } });
    return this.sign(state.user, { sessionId: session.id, sessionExpiresAt: state.expiresAt });
  }

  /** Ends one session everywhere: written, then announced. */
  async revoke(sessionId: string, userId: string): Promise<void> {
    await this.#options.db.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date() } });
    this.#options.channel.publish({ type: 'session', sessionId, userId });
  }

  /** Ends the user's sessions (but `exceptSessionId`) in the database; announce with `userChanged` once committed. */
  revokeUserSessions(tx: Db | Tx, userId: string, exceptSessionId?: string) {
    return tx.session.updateMany({
      where: { userId, revokedAt: null, ...(exceptSessionId ? { id: { not: exceptSessionId } } : {}) },
      data: { revokedAt: new Date() },
    });
  }

  /** After a committed change of the user (role, deactivation, sessions revoked): every node reads it again. */
  userChanged(userId: string): void {
    this.#options.channel.publish({ type: 'user', userId });
  }

  /**
   * Follows a connection's (or a lasting HTTP request's) session until `untrack`: a
   * notice or check that ends it sets `expiresAt` to 0 with `endedBy`, which ends its
   * subscriptions, and calls `onConnectionEnded` for a WebSocket connection; a role
   * change updates `session.user.role`.
   */
  track(session: Session, connectionId: string | null): void {
    session.connectionId = connectionId;
    const ended = this.#recentlyEnded.get(session.id);
    if (ended) {
      this.#end([session], ended.message);
      return;
    }
    addTo(this.#live, session.id, session);
    addTo(this.#liveByUser, session.user.id, session);
  }

  untrack(session: Session): void {
    removeFrom(this.#live, session.id, session);
    removeFrom(this.#liveByUser, session.user.id, session);
  }

  /** Moves a followed session to another session of the same user (a token of a new sign-in presented on the connection). */
  retrack(session: Session, sessionId: string): void {
    const followed = this.#live.get(session.id)?.has(session) === true;
    if (followed) removeFrom(this.#live, session.id, session);
    session.id = sessionId;
    if (followed) addTo(this.#live, sessionId, session);
  }

  /** Sessions of open connections on this node; for tests and metrics. */
  liveCount(): number {
    let count = 0;
    for (const entries of this.#live.values()) count += entries.size;
    return count;
  }

  /** Reads the rows of every open connection's session of this node and applies what changed. */
  checkLiveSessions(): Promise<void> {
    this.#checking ??= this.#check([...this.#live.keys()]).finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#checking;
    await this.#options.channel.close();
  }

  #onNotice(notice: SessionNotice) {
    this.#invalidate(notice.userId);
    if (notice.type === 'session') {
      this.#remember(notice.sessionId, SESSION_ENDED.revoked);
      const sessions = this.#live.get(notice.sessionId);
      if (sessions) this.#end([...sessions], SESSION_ENDED.revoked);
      return;
    }
    const sessionIds = [...(this.#liveByUser.get(notice.userId) ?? [])].map((session) => session.id);
    void this.#check([...new Set(sessionIds)]);
  }

  #resync() {
    this.#generation += 1;
    this.#cache.clear();
    void this.checkLiveSessions();
  }

  async #check(sessionIds: string[]): Promise<void> {
    try {
      for (let start = 0; start < sessionIds.length; start += CHECK_PAGE) {
        const page = sessionIds.slice(start, start + CHECK_PAGE);
        const rows = await this.#options.db.session.findMany({ where: { id: { in: page } }, select: { id: true, ...stateSelect } });
        const states = new Map(rows.map((row) => [row.id, toState(row)]));
        const ended: Session[] = [];
        for (const sessionId of page) {
          const state = states.get(sessionId) ?? null;
          for (const session of this.#live.get(sessionId) ?? []) {
            const message = !state || state.revoked ? SESSION_ENDED.revoked : !state.user ? SESSION_ENDED.inactive : null;
            if (message) {
              this.#remember(sessionId, message);
              ended.push(session);
              session.endedBy = message;
            } else session.user.role = state!.user!.role;
          }
        }
        this.#end(ended, null);
      }
    } catch (error) {
      this.#options.logger.error('checking sessions failed', { err: error });
    }
  }

  /** Ends these sessions now (with `message`, or the `endedBy` already set). */
  #end(sessions: Session[], message: string | null) {
    if (!sessions.length) return;
    for (const session of sessions) {
      session.expiresAt = 0;
      if (message) session.endedBy = message;
      this.untrack(session);
    }
    // Their subscriptions wait on the expiry watches: due now, rather than at the token's expiry.
    endExpiredWatchesNow();
    const { onConnectionEnded } = this.#options;
    if (!onConnectionEnded) return;
    for (const session of sessions) {
      if (session.connectionId === null) continue;
      try {
        onConnectionEnded(session.connectionId);
      } catch (error) {
        this.#options.logger.error('ending a session failed', { err: error });
      }
    }
  }

  #remember(sessionId: string, message: string) {
    const now = Date.now();
    if (this.#recentlyEnded.size >= CACHE_MAX) {
      for (const [id, ended] of this.#recentlyEnded) if (ended.at + RECENTLY_ENDED_MS <= now) this.#recentlyEnded.delete(id);
    }
    this.#recentlyEnded.set(sessionId, { message, at: now });
  }

  #invalidate(userId: string) {
    this.#generation += 1;
    for (const [sessionId, entry] of this.#cache) if (entry.state?.userId === userId || entry.state === null) this.#cache.delete(sessionId);
  }

  async #cachedState(sessionId: string): Promise<SessionState | null> {
    const now = Date.now();
    const cached = this.#cache.get(sessionId);
    if (cached && cached.until > now) return cached.state;
    const generation = this.#generation;
    const state = await this.#readState(sessionId);
    if (generation !== this.#generation) return state;
    if (this.#cache.size >= CACHE_MAX) {
      for (const [key, entry] of this.#cache) if (entry.until <= now) this.#cache.delete(key);
      if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    }
    this.#cache.set(sessionId, { state, until: now + this.#options.cacheMs });
    return state;
  }

  async #readState(sessionId: string): Promise<SessionState | null> {
    const row = await this.#options.db.session.findUnique({ where: { id: sessionId }, select: stateSelect });
    return row && toState(row);
  }
}

function toState(row: {
  userId: string;
  orgId: string;
  expiresAt: Date;
  revokedAt: Date | null;
  user: { id: string; orgId: string; email: string; name: string; role: string; deactivatedAt: Date | null; org: { name: string } };
}): SessionState {
  const { user } = row;
  return {
    userId: row.userId,
    orgId: row.orgId,
    expiresAt: row.expiresAt.getTime(),
    revoked: row.revokedAt !== null,
    user: user.deactivatedAt ? null : { id: user.id, orgId: user.orgId, orgName: user.org.name, email: user.email, name: user.name, role: user.role as Role },
  };
}

function isUsable(state: SessionState): boolean {
  return !state.revoked && state.user !== null && state.expiresAt > Date.now();
}

function unauthorized(message: string) {
  return new TRPCError({ code: 'UNAUTHORIZED', message });
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V) {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V) {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
