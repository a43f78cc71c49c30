import { TRPCError } from '@trpc/server';
import type { CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import type { CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import type { PublicUser, Role } from '../shared/auth.ts';
import type { TokenService } from './auth/tokens.ts';
import type { EventBus } from './bus/types.ts';
import type { Db } from './db/client.ts';

/** What every request shares, built once at start. */
export interface AppDeps {
  db: Db;
  bus: EventBus;
  tokens: TokenService;
}

export interface Session {
  user: PublicUser;
  /** When the token stops being valid, in ms; checked on every call. */
  expiresAt: number;
}

export interface Context extends AppDeps {
  session: Session | null;
}

/** The one user lookup behind both doors (HTTP header, WebSocket connectionParams) and the tests. */
export async function createContextInner(deps: AppDeps, token: string | null | undefined): Promise<Context> {
  return { ...deps, session: token ? await resolveSession(deps, token) : null };
}

async function resolveSession(deps: AppDeps, token: string): Promise<Session | null> {
  const claims = await deps.tokens.verify(token);
  if (!claims) return null;
  const user = await deps.db.user.findUnique({ where: { id: claims.userId }, include: { org: true } });
  if (!user || user.orgId !== claims.orgId) return null;
  return {
    user: { id: user.id, orgId: user.orgId, orgName: user.org.name, email: user.email, name: user.name, role: user.role as Role },
    expiresAt: claims.expiresAt,
  };
}

export function bearerToken(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1] ?? null;
}

/** HTTP: a request without a valid token gets a context without session (only `auth.login` accepts it). */
export function createHttpContextFactory(deps: AppDeps) {
  return ({ req }: CreateHTTPContextOptions) => createContextInner(deps, bearerToken(req.headers.authorization));
}

/**
 * WebSocket: built once per connection from the first `connectionParams` message.
 * A connection without a valid token is refused: tRPC's adapter answers the error
 * and closes the socket.
 */
export function createWsContextFactory(deps: AppDeps) {
  return async ({ info }: CreateWSSContextFnOptions) => {
    const token = info.connectionParams?.token;
    const ctx = await createContextInner(deps, token);
    if (!ctx.session) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'A valid token is required to connect' });
    return ctx;
  };
}
