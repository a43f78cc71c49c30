import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PublicUser } from '../../shared/auth.ts';
import { INLINE_TYPES } from '../../shared/uploads.ts';
import { bearerToken, type AppDeps } from '../context.ts';

/** What the file doors share (attachments served, uploaded, and fetched by carriers). */

export function replyError(res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): void {
  if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error }));
}

/**
 * The signed-in user of a file request (bearer token, as for the API), within the user's
 * query budget; else answers 401 or 429 and gives null.
 */
export async function httpUser(deps: AppDeps, req: IncomingMessage, res: ServerResponse): Promise<PublicUser | null> {
  const token = bearerToken(req.headers.authorization);
  const session = token ? await deps.sessions.resolve(token) : null;
  if (!session || session.expiresAt <= Date.now()) {
    replyError(res, 401, 'Sign in first', { 'www-authenticate': 'Bearer' });
    return null;
  }
  try {
    deps.limits.checkQuery(`http-user-${session.user.id}`, session.user.id, 1);
  } catch {
    replyError(res, 429, 'Too many requests', { 'retry-after': '1' });
    return null;
  }
  return session.user;
}

/**
 * Transfers that hold memory or a carrier's connection (an upload read whole, a file fetched
 * from a carrier): at most `perNode` at once on this node, and at most `perUser` of them for
 * one user, so one user cannot take the whole node's share. Past either, `take` gives null
 * (the caller answers 503 with Retry-After).
 */
export class TransferSlots {
  #total = 0;
  readonly #byUser = new Map<string, number>();

  constructor(
    readonly perNode: number,
    readonly perUser: number,
  ) {}

  take(userId: string): (() => void) | null {
    const mine = this.#byUser.get(userId) ?? 0;
    if (this.#total >= this.perNode || mine >= this.perUser) return null;
    this.#total += 1;
    this.#byUser.set(userId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total -= 1;
      const left = (this.#byUser.get(userId) ?? 1) - 1;
      if (left > 0) this.#byUser.set(userId, left);
      else this.#byUser.delete(userId);
    };
  }
}

/**
 * Headers of a file answer: a photo is shown, anything else downloaded under its name; the
 * browser never guesses a type, and a file opened directly runs no script.
 */
export function fileHeaders(file: { contentType: string; name?: string | undefined; length?: number | undefined; cache: string }): Record<string, string> {
  const inline = INLINE_TYPES.has(file.contentType);
  const name = file.name ? `; filename*=UTF-8''${encodeURIComponent(file.name)}` : '';
  return {
    'content-type': file.contentType,
    ...(file.length ? { 'content-length': String(file.length) } : {}),
    'content-disposition': `${inline ? 'inline' : 'attachment'}${name}`,
    'cache-control': file.cache,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
  };
}
