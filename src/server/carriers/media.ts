import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { storedMedia } from '../comms/wire.ts';
import { bearerToken, type AppDeps } from '../context.ts';

/** Larger attachments are not served (WhatsApp allows up to 100 MB documents; Twilio MMS 5 MB). */
export const MAX_MEDIA_BYTES = 25 * 1024 * 1024;
/** Attachments fetched from carriers at once by one node; more answer 503 with Retry-After. */
const MAX_FETCHES = 8;
/** Shown in the page (an <img>); anything else is a download. */
const INLINE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

const PATH = /^\/media\/([^/]{1,64})\/(\d{1,2})$/;

/**
 * GET /media/<messageId>/<index>: a message's attachment, fetched from the carrier that
 * holds it with that account's credentials when a user of the message's org opens it
 * (the carrier's URL is never given to the browser). Bearer token as for the API; another
 * org's message answers 404 as a missing one does. Streamed, never held whole.
 */
export function createMediaHandler(deps: AppDeps) {
  let fetching = 0;
  const reply = (res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}) => {
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error }));
  };
  return (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    const match = PATH.exec(pathname);
    if (!pathname.startsWith('/media/')) return false;
    if (!match || req.method !== 'GET') {
      reply(res, 404, 'Not found');
      return true;
    }
    void (async () => {
      const token = bearerToken(req.headers.authorization);
      const session = token ? await deps.sessions.resolve(token) : null;
      if (!session || session.expiresAt <= Date.now()) return reply(res, 401, 'Sign in first', { 'www-authenticate': 'Bearer' });
      const user = session.user;
      try {
        deps.limits.checkQuery(`http-user-${user.id}`, user.id, 1);
      } catch {
        return reply(res, 429, 'Too many requests', { 'retry-after': '1' });
      }
      const messageId = decodeURIComponent(match[1]!);
      const row = await deps.db.message.findFirst({ where: { id: messageId, orgId: user.orgId }, select: { media: true } });
      const item = row ? storedMedia(row.media)[Number(match[2])] : undefined;
      if (!item) return reply(res, 404, 'No such attachment');
      const carrier = await deps.carriers.open(item.carrierId);
      if (!carrier || carrier.orgId !== user.orgId) return reply(res, 502, 'The carrier that holds this attachment cannot be used');
      if (fetching >= MAX_FETCHES) return reply(res, 503, 'Busy: try again', { 'retry-after': '1' });
      fetching += 1;
      try {
        const signal = AbortSignal.timeout(deps.carriers.sendTimeoutMs);
        const headers = { authorization: carrier.mediaAuthorization };
        // Twilio answers with a redirect to its CDN (fetch drops the credentials on the way there);
        // Meta's media object answers the short-lived download URL, which takes the same token.
        let source = item.url;
        if (carrier.kind === 'whatsapp_cloud') {
          const object = await fetch(item.url, { headers, signal });
          const described = (await object.json().catch(() => ({}))) as { url?: unknown };
          if (!object.ok || typeof described.url !== 'string' || !/^https?:\/\//.test(described.url)) return reply(res, 502, `The carrier answered ${object.status}`);
          source = described.url;
        }
        const upstream = await fetch(source, { headers, signal });
        if (!upstream.ok || !upstream.body) return reply(res, 502, `The carrier answered ${upstream.status}`);
        const length = Number(upstream.headers.get('content-length') ?? 0);
        if (length > MAX_MEDIA_BYTES) return reply(res, 413, 'Attachment too large to serve');
        const inline = INLINE_TYPES.has(item.contentType);
        res.writeHead(200, {
          'content-type': item.contentType,
          ...(length ? { 'content-length': String(length) } : {}),
          'content-disposition': inline ? 'inline' : 'attachment',
          'cache-control': 'private, max-age=300',
          'x-content-type-options': 'nosniff',
          'content-security-policy': "default-src 'none'; sandbox",
        });
        let seen = 0;
        const body = Readable.fromWeb(upstream.body as never);
        body.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > MAX_MEDIA_BYTES) body.destroy(new Error('Attachment too large'));
        });
        await pipeline(body, res).catch(() => res.destroy());
      } finally {
        fetching -= 1;
      }
    })().catch((error: unknown) => {
      deps.logger.error('media failed', { path: pathname, err: error });
      if (!res.headersSent) reply(res, 502, 'Could not fetch the attachment');
      else res.destroy();
    });
    return true;
  };
}
