import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let dir: string;
let server: TestServer;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tandem-serve-'));
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>Tandem</title>');
  await writeFile(path.join(dir, 'assets', 'index-AbC123.js'), 'console.log(1)');
  await writeFile(path.join(dir, 'assets', 'index-AbC123.css'), 'body{}');
  await writeFile(path.join(dir, 'robots.txt'), 'User-agent: *');
  await writeFile(path.join(dir, '..', `secret-${path.basename(dir)}.txt`), 'secret');
  process.env.TANDEM_WEB_DIR = dir;
  server = await startTestServer();
});
afterAll(async () => {
  delete process.env.TANDEM_WEB_DIR;
  await server[Symbol.asyncDispose]();
  await rm(path.join(dir, '..', `secret-${path.basename(dir)}.txt`), { force: true });
  await rm(dir, { recursive: true, force: true });
});

/** A raw request, so paths reach the server exactly as written (fetch would normalize `..`). */
function get(pathname: string, { method = 'GET', headers = {} }: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.server.port, path: pathname, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject).end();
  });
}

describe('serving the web app', () => {
  it('sends the security headers: the app with its Content-Security-Policy, everything else with a closed one', async () => {
    const app = await get('/escrows');
    expect(app.headers['content-security-policy']).toMatch(
      /^default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; .*frame-ancestors 'none'/,
    );
    expect(app.headers['x-frame-options']).toBe('DENY');
    for (const pathname of ['/nope.js', '/trpc/auth.me', '/healthz', '/webhooks/sms', '/assets/index-AbC123.js']) {
      const response = await get(pathname);
      expect(response.headers['x-content-type-options'], pathname).toBe('nosniff');
      expect(response.headers['referrer-policy'], pathname).toBe('same-origin');
      expect(response.headers['content-security-policy'], pathname).toMatch(/frame-ancestors 'none'/);
    }
    expect((await get('/trpc/auth.me')).headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it('serves index.html at / and at every app route, never cached', async () => {
    for (const pathname of ['/', '/escrows', '/escrows/abc123', '/signin?next=1']) {
      const response = await get(pathname);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.body).toContain('<title>Tandem</title>');
    }
  });

  it('serves hashed assets with their content type, cached for a year', async () => {
    const js = await get('/assets/index-AbC123.js');
    expect(js).toMatchObject({ status: 200, body: 'console.log(1)' });
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await get('/assets/index-AbC123.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    const robots = await get('/robots.txt');
    expect(robots.headers['cache-control']).toBe('public, max-age=0, must-revalidate');
    expect(robots.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('answers 304 to a matching ETag, and HEAD without a body', async () => {
    const first = await get('/assets/index-AbC123.js');
    const again = await get('/assets/index-AbC123.js', { headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again).toMatchObject({ status: 304, body: '' });
    const head = await get('/', { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
  });

  it('answers 404 for missing files with an extension, other methods, and paths that leave the folder', async () => {
    expect((await get('/assets/index-Old999.js')).status).toBe(404);
    expect((await get('/', { method: 'POST' })).status).toBe(404);
    const secret = `secret-${path.basename(dir)}.txt`;
    for (const pathname of [`/../${secret}`, `/%2e%2e/${secret}`, `/assets/..%2f..%2f${secret}`, `/..%5c${secret}`, '/%00', '/%E0%A4%A']) {
      const response = await get(pathname);
      expect(response.body, pathname).not.toContain('secret');
    }
    expect((await get(`/%2e%2e/${secret}`)).status).toBe(404);
    expect((await get('/%E0%A4%A')).status).toBe(404);
  });

  it('says how to build the app when it is not built', async () => {
    process.env.TANDEM_WEB_DIR = path.join(dir, 'nowhere');
    try {
      const response = await get('/escrows');
      expect(response.status).toBe(503);
      expect(response.body).toContain('npm run build:web');
    } finally {
      process.env.TANDEM_WEB_DIR = dir;
    }
  });
});
