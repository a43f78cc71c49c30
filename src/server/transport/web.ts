import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { projectRoot } from '../paths.ts';

/** Where `npm run build:web` writes the app (vite.config.ts); TANDEM_WEB_DIR overrides it. */
const DEFAULT_ROOT = path.join(projectRoot, 'dist', 'web');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * What the built app may load: its own scripts, styles and API only (connect-src 'self'
 * covers the same host's ws: and wss: in CSP level 3), and data: images (the favicon is
 * one). The build has no inline script or style element; React sets `style` props
 * through the CSSOM, which style-src does not govern. zod runs without `new Function`
 * (main.tsx), so script-src needs no 'unsafe-eval'.
 */
export const APP_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** For every answer that is not the app (the API, webhooks, 404s): nothing to load, nothing to frame. */
export const API_SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

const SECURITY_HEADERS = {
  ...API_SECURITY_HEADERS,
  'content-security-policy': APP_CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
};

function fileAt(file: string): { size: number; mtime: Date } | undefined {
  try {
    const stats = statSync(file);
    return stats.isFile() ? stats : undefined;
  } catch {
    return undefined;
  }
}

function send(req: IncomingMessage, res: ServerResponse, file: string, stats: { size: number; mtime: Date }, cacheControl: string) {
  const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  const etag = `W/"${stats.size.toString(16)}-${stats.mtime.getTime().toString(16)}"`;
  const headers = { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cacheControl, etag, 'last-modified': stats.mtime.toUTCString() };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': stats.size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

/**
 * Serves the built web app (GET requests outside /trpc and /healthz).
 * Returns false when it did not handle the request, so the server answers 404.
 *
 * - Files under `assets/` carry a content hash in their name: cached for a year, immutable.
 * - Any other path without a file extension is a route of the single-page app: index.html,
 *   never cached, so a new build is picked up at the next load.
 * - Paths are resolved inside the build folder; anything that would leave it is refused.
 */
export function serveWebApp(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const root = path.resolve(process.env.TANDEM_WEB_DIR ?? DEFAULT_ROOT);
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  } catch {
    return false;
  }
  if (pathname.includes('\0')) return false;
  const file = path.resolve(root, `.${path.posix.normalize(pathname)}`);
  if (file !== root && !file.startsWith(root + path.sep)) return false;

  const stats = fileAt(file);
  if (stats && path.basename(file) !== 'index.html') {
    const hashed = file.startsWith(path.join(root, 'assets') + path.sep);
    send(req, res, file, stats, hashed ? 'public, max-age=31536000, immutable' : 'public, max-age=0, must-revalidate');
    return true;
  }
  // A missing file with an extension is a 404, not the app (a stale asset must not get HTML).
  if (!stats && path.extname(pathname) !== '') return false;
  const index = path.join(root, 'index.html');
  const indexStats = fileAt(index);
  if (!indexStats) {
    res
      .writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      .end('The web app is not built. Run `npm run build:web` (npm start does it for you), or `npm run dev` for development.\n');
    return true;
  }
  send(req, res, index, indexStats, 'no-cache');
  return true;
}
