import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_UPLOAD_BYTES, UPLOAD_TYPES, uploadName, uploadType } from '../../shared/uploads.ts';
import type { AppDeps } from '../context.ts';
import { fileHeaders, httpUser, replyError, TransferSlots } from './file-http.ts';
import { createUpload, deleteUpload, publicFile, UploadRefused } from './uploads.ts';
import { readBody, WebhookError } from './webhook-http.ts';

/** Uploads read at once by one node, and by one user: each holds up to MAX_UPLOAD_BYTES in memory until stored. */
export const UPLOAD_SLOTS = { perNode: 8, perUser: 2 };

const UPLOAD = /^\/uploads\/?$/;
const ONE_UPLOAD = /^\/uploads\/([a-z0-9]{1,64})$/;
const FILE = /^\/files\/([a-z0-9]{1,64})\/([A-Za-z0-9_-]{43})$/;

/**
 * - `POST /uploads?name=<file name>`: a file for a reply (the body, typed by `Content-Type`,
 *   at most MAX_UPLOAD_BYTES), answered 201 with `{ id, name, contentType, size }`;
 * - `DELETE /uploads/<id>`: its uploader takes it back before sending;
 * - `GET /files/<id>/<secret>`: a sent file, for the carrier that delivers it (Twilio's
 *   MediaUrl, WhatsApp's link). No token: the 256-bit secret is the key, and it works for
 *   a week after sending.
 */
export function createUploadHandler(deps: AppDeps, options: { quotaBytes?: number | undefined } = {}) {
  const slots = new TransferSlots(UPLOAD_SLOTS.perNode, UPLOAD_SLOTS.perUser);

  async function upload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const user = await httpUser(deps, req, res);
    if (!user) return;
    const contentType = uploadType(req.headers['content-type']);
    if (!contentType) return replyError(res, 415, `Not a type the carriers take: send one of ${UPLOAD_TYPES.join(', ')}`);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_UPLOAD_BYTES) return replyError(res, 413, `Files may be at most ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`);
    const release = slots.take(user.id);
    if (!release) return replyError(res, 503, 'Busy: try again', { 'retry-after': '1' });
    try {
      const data = await readBody(req, MAX_UPLOAD_BYTES).catch((error: unknown) => {
        if (error instanceof WebhookError) throw new UploadRefused(413, `Files may be at most ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`);
        throw error;
      });
      if (!data.length) return replyError(res, 400, 'The file is empty');
      const file = await createUpload(deps.db, user, { name: uploadName(url.searchParams.get('name') ?? ''), contentType, data }, options.quotaBytes);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(file));
    } finally {
      release();
    }
  }

  async function remove(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const user = await httpUser(deps, req, res);
    if (!user) return;
    if (!(await deleteUpload(deps.db, user, id))) return replyError(res, 404, 'No file of yours waiting to be sent with that id');
    res.writeHead(204).end();
  }

  async function download(res: ServerResponse, id: string, secret: string): Promise<void> {
    const file = await publicFile(deps.db, id, secret);
    if (!file) return replyError(res, 404, 'Not found');
    res.writeHead(200, fileHeaders({ contentType: file.contentType, name: file.name, length: file.data.length, cache: 'public, max-age=3600' })).end(file.data);
  }

  return (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    if (!pathname.startsWith('/uploads') && !pathname.startsWith('/files/')) return false;
    const url = new URL(req.url ?? '/', 'http://localhost');
    let work: Promise<void> | undefined;
    const one = ONE_UPLOAD.exec(pathname);
    const file = FILE.exec(pathname);
    if (UPLOAD.test(pathname) && req.method === 'POST') work = upload(req, res, url);
    else if (one && req.method === 'DELETE') work = remove(req, res, one[1]!);
    else if (file && (req.method === 'GET' || req.method === 'HEAD')) work = download(res, file[1]!, file[2]!);
    if (!work) {
      replyError(res, 404, 'Not found');
      return true;
    }
    work.catch((error: unknown) => {
      if (error instanceof UploadRefused) return replyError(res, error.status, error.message, { connection: 'close' });
      deps.logger.error('file request failed', { path: pathname, err: error });
      if (!res.headersSent) replyError(res, 500, 'Could not store the file');
      else res.destroy();
    });
    return true;
  };
}
