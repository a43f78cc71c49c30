import type { IncomingMessage } from 'node:http';
import { TRPCError } from '@trpc/server';
import type { CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import type { Session, SessionService } from './auth/sessions.ts';
import type { TokenService } from './auth/tokens.ts';
import type { EventBus } from './bus/types.ts';
import type { Carriers } from './carriers/service.ts';
import type { Outbox } from './carriers/outbox.ts';
import type { CommitAdmission } from './events/commit-admission.ts';
import type { ReplayCache } from './events/replay-cache.ts';
import type { Db } from './db/client.ts';
import type { InflightTracker } from './inflight.ts';
import type { PresenceService } from './presence/service.ts';
import type { Limits } from './limits.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { BackpressureOptions } from './transport/ws-flow.ts';
import type { WsContextOptions } from './transport/ws-handler.ts';

/** What every request shares, built once at start. */
export interface AppDeps {
  db: Db;
  bus: EventBus;
  tokens: TokenService;
  /** Server-side sessions: what tokens name, revocation, and its propagation to open connections. */
  sessions: SessionService;
  /** Where the web app is served, for links sent to people (invitations); absent: links are relative. */
  publicUrl?: string | undefined;
  limits: Limits;
  metrics: Metrics;
  logger: Logger;
  /** Mutations in progress; a shutdown waits for them. */
  inflight: InflightTracker;
  /** The bound on commits waiting (events/commit-admission.ts). */
  admission: CommitAdmission;
  backpressure: BackpressureOptions;
  presence: PresenceService;
  /** Weekly hours an agent can take, for the dashboard's crew utilization. */
  weeklyCapacityHours: number;
  /** An incoming call not answered within this is missed. */
  callRingTimeoutMs: number;
  /** Write caught-up subscriptions' live events straight to their socket (see events/stream.ts). */
  directDelivery: boolean;
  /** What resumes of one org share (see events/replay-cache.ts). */
  replays: ReplayCache;
  /** Reverse proxies in front whose X-Forwarded-For entries are believed (`TRUST_PROXY`); 0: the TCP peer is the client. */
  trustedProxies: number;
  /** The orgs' carrier accounts (carriers/service.ts). */
  carriers: Carriers;
  /** The disk one org's attached files may take (`ORG_FILES_QUOTA_MB`; comms/uploads.ts). */
  filesQuotaBytes?: number | undefined;
  /** Sends queued messages through them (carriers/outbox.ts). */
  outbox: Pick<Outbox, 'wake' | 'deadlineMs'>;
}

/** One WebSocket connection (or, over HTTP, one request): what per-connection limits count. */
export interface ConnectionInfo {
  id: string;
  subscriptions: number;
  /** The client's address (see `clientAddress`): what sign-in throttling counts per address. Absent for in-process callers. */
  address?: string;
}

let connectionCounter = 0;
export function newConnectionInfo(door: 'ws' | 'http', address?: string): ConnectionInfo {
  connectionCounter += 1;
  return { id: `${door}-${process.pid}-${connectionCounter}`, subscriptions: 0, address };
}

export type { Session };

export interface Context extends AppDeps {
  /** This connection's (over HTTP, this request's) logger: its lines carry `connection`, and once signed in `userId` and `orgId`. */
  logger: Logger;
  session: Session | null;
  connection: ConnectionInfo;
}

/** The one user lookup behind both doors (HTTP header, WebSocket connectionParams) and the tests. */
export async function createContextInner(deps: AppDeps, token: string | null | undefined, connection: ConnectionInfo = newConnectionInfo('http')): Promise<Context> {
  // The token, its session and its user (auth/sessions.ts; cached a few seconds, cleared by every revocation or role change).
  const session = token ? await deps.sessions.resolve(token) : null;
  // The connection's (over HTTP, the request's) own logger: its lines say whose they are.
  // Made here, before an HTTP request's `connection.id` becomes its user's shared budget.
  const logger = deps.logger.child(session ? { connection: connection.id, userId: session.user.id, orgId: session.user.orgId } : { connection: connection.id });
  // Not `{ ...deps, connection, session }`: V8 gives every object built by that literal a
  // hidden class of its own (and an enum cache once tRPC spreads it), about 0.6 KB per
  // WebSocket connection, which keeps its context. Built by assignment they share one
  // (`logger` replaces deps' own in place: the same keys in the same order).
  return Object.assign({}, deps, { connection, session, logger });
}

export const SUBSCRIPTIONS_OVER_HTTP = 'Subscriptions are served over the WebSocket only (at /trpc); over HTTP, poll the log instead (events.since, notifications.since)';

/**
 * The client's address: the TCP peer, or, behind `trustedProxies` reverse proxies, the
 * entry the outermost of them appended to X-Forwarded-For (that many from the right).
 * Entries further left come from the client and could be anything, so they are never used.
 */
export function clientAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>, trustedProxies: number): string | undefined {
  const peer = req.socket.remoteAddress;
  if (trustedProxies <= 0) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((hop) => hop.trim())
    .filter(Boolean);
  return hops[Math.max(0, hops.length - trustedProxies)] ?? peer;
}

export function bearerToken(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1] ?? null;
}

/**
 * HTTP: a request without a valid token gets a context without session (only `auth.login` accepts it).
 * Subscriptions are refused here, before their procedure runs: over HTTP they would be
 * server-sent event streams, outside the WebSocket's caps on connections and
 * subscriptions (issue 18: 2,100 streams for one user). `sse.enabled: false` (trpc.ts)
 * alone still runs the procedure and answers 200 with a cryptic error event.
 */
export function createHttpContextFactory(deps: AppDeps) {
  return async ({ req, res, info }: CreateHTTPContextOptions) => {
    if (info.type === 'subscription') throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: SUBSCRIPTIONS_OVER_HTTP });
    const ctx = await createContextInner(deps, bearerToken(req.headers.authorization), newConnectionInfo('http', clientAddress(req, deps.trustedProxies)));
    if (ctx.session) {
      // HTTP has no lasting connection: all of a user's HTTP requests share one budget,
      // so splitting calls over many requests gains nothing.
      ctx.connection.id = `http-user-${ctx.session.user.id}`;
      let endRequest: () => void;
      try {
        endRequest = deps.limits.beginHttpRequest(ctx.session.user.id, () => res.writableLength + (res.socket?.writableLength ?? 0));
      } catch (error) {
        deps.metrics.rateLimited.inc({ limit: 'HTTP requests per user' });
        throw error;
      }
      // A request still running when its session ends is refused from then on, as a socket's calls are.
      const session = ctx.session;
      deps.sessions.track(session, null);
      // One listener for both: a batch of calls is one request, and each listener is kept until it ends.
      res.once('close', () => {
        endRequest();
        deps.sessions.untrack(session);
      });
    } else if (req.headers.authorization) deps.metrics.authFailures.inc({ door: 'http' });
    return ctx;
  };
}

/**
 * WebSocket: built once per connection from the first `connectionParams` message.
 * A connection without a valid token is refused: the handler (ws-handler.ts) answers the
 * error and closes the socket. `req` carries the upgrade's url, method, headers and socket
 * only (see `upgradeRequest` in app.ts).
 */
export function createWsContextFactory(deps: AppDeps) {
  return async ({ info, res: socket, req }: WsContextOptions) => {
    const token = info.connectionParams?.token;
    const ctx = await createContextInner(deps, token, newConnectionInfo('ws', clientAddress(req, deps.trustedProxies)));
    if (!ctx.session) {
      deps.metrics.authFailures.inc({ door: 'ws' });
      ctx.logger.warn('connection refused: invalid token', { remote: req.socket.remoteAddress });
      throw new TRPCError({ code: 'UNAUTHORIZED', message: 'A valid token is required to connect' });
    }
    const user = ctx.session.user;
    let release: () => void;
    try {
      release = await deps.limits.openConnection(user.id);
    } catch (error) {
      deps.metrics.rateLimited.inc({ limit: 'connections per user' });
      ctx.logger.warn('connection refused: too many connections');
      throw error;
    }
    // The socket may have closed while the lookups above awaited; its 'close' would never reach the handler below.
    if (socket.readyState !== socket.OPEN) {
      release();
      throw new TRPCError({ code: 'CLIENT_CLOSED_REQUEST', message: 'The connection closed while it was set up' });
    }
    ctx.logger.info('connected');
    deps.presence.connect(ctx.connection.id, user);
    // A revoked session, or its user deactivated or removed, ends here at once: calls and subscriptions
    // are refused, and the connection leaves presence (the hook registered in bootstrap.ts).
    const session = ctx.session;
    deps.sessions.track(session, ctx.connection.id);
    // `on`, not `once`: a socket closes once, and `once` would keep a wrapper and its state per connection.
    socket.on('close', (code: number) => {
      deps.sessions.untrack(session);
      release();
      deps.presence.disconnect(ctx.connection.id);
      ctx.logger.info('disconnected', { code });
    });
    return ctx;
  };
}
