import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileHeaders, httpUser, replyError, TransferSlots } from '../comms/file-http.ts';
import { attachedFile } from '../comms/uploads.ts';
import { type StoredMedia, storedMedia } from '../comms/wire.ts';
import type { AppDeps } from '../context.ts';

/** Larger attachments are not served (WhatsApp allows up to 100 MB documents; Twilio MMS 5 MB). */
export const MAX_MEDIA_BYTES = 25 * 1024 * 1024;
/** Attachments fetched from carriers at once by one node, and by one user; more answer 503 with Retry-After. */
export const MEDIA_FETCHES = { perNode: 8, perUser: 2 };

const PATH = /^\/media\/([^/]{1,64})\/(\d{1,2})$/;

/**
 * GET /media/<messageId>/<index>: a message's attachment, for a signed-in user of the
 * message's org (bearer token, as for the API; another org's message answers 404 as a
 * missing one does). A file an agent attached is served from the database; a customer's
 * is fetched from the carrier that holds it with that account's credentials (the carrier's
 * URL is never given to the browser), streamed, never held whole.
 */
export function createMediaHandler(deps: AppDeps) {
  const slots = new TransferSlots(MEDIA_FETCHES.perNode, MEDIA_FETCHES.perUser);
  return (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    if (!pathname.startsWith('/media/')) return false;
    const match = PATH.exec(pathname);
    if (!match || req.method !== 'GET') {
      replyError(res, 404, 'Not found');
      return true;
    }
    void (async () => {
      const user = await httpUser(deps, req, res);
      if (!user) return;
      const messageId = decodeURIComponent(match[1]!);
      const row = await deps.db.message.findFirst({ where: { id: messageId, orgId: user.orgId }, select: { media: true } });
      const item = row ? storedMedia(row.media)[Number(match[2])] : undefined;
      if (!item) return replyError(res, 404, 'No such attachment');
      if ('uploadId' in item) {
        const file = await attachedFile(deps.db, user.orgId, item.uploadId);
        if (!file) return replyError(res, 404, 'No such attachment');
        res.writeHead(200, fileHeaders({ contentType: file.contentType, name: file.name, length: file.data.length, cache: 'private, max-age=300' })).end(file.data);
        return;
      }
      const release = slots.take(user.id);
      if (!release) return replyError(res, 503, 'Busy: try again', { 'retry-after': '1' });
      try {
        await fromCarrier(deps, user.orgId, item, res);
      } finally {
        release();
      }
    })().catch((error: unknown) => {
      deps.logger.error('media failed', { path: pathname, err: error });
      if (!res.headersSent) replyError(res, 502, 'Could not fetch the attachment');
      else res.destroy();
    });
    return true;
  };
}

async function fromCarrier(deps: AppDeps, orgId: string, item: Extract<StoredMedia, { url: string }>, res: ServerResponse): Promise<void> {
  const carrier = await deps.carriers.open(item.carrierId);
  if (!carrier || carrier.orgId !== orgId) return replyError(res, 502, 'The carrier that holds this attachment cannot be used');
  const signal = AbortSignal.timeout(deps.carriers.sendTimeoutMs);
  const headers = { authorization: carrier.mediaAuthorization };
  // Twilio answers with a redirect to its CDN (fetch drops the credentials on the way there);
  // Meta's media object answers the short-lived download URL, which takes the same token.
  let source = item.url;
  if (carrier.kind === 'whatsapp_cloud') {
    const object = await fetch(item.url, { headers, signal });
    const described = (await object.json().catch(() => ({}))) as { url?: unknown };
    if (!object.ok || typeof described.url !== 'string' || !/^https?:\/\//.test(described.url)) return replyError(res, 502, `The carrier answered ${object.status}`);
    source = described.url;
  }
  const upstream = await fetch(source, { headers, signal });
  if (!upstream.ok || !upstream.body) return replyError(res, 502, `The carrier answered ${upstream.status}`);
  const length = Number(upstream.headers.get('content-length') ?? 0);
  if (length > MAX_MEDIA_BYTES) return replyError(res, 413, 'Attachment too large to serve');
  res.writeHead(200, fileHeaders({ contentType: item.contentType, length, cache: 'private, max-age=300' }));
  let seen = 0;
  const body = Readable.fromWeb(upstream.body as never);
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > MAX_MEDIA_BYTES) body.destroy(new Error('Attachment too large'));
  });
  await pipeline(body, res).catch(() => res.destroy());
}
