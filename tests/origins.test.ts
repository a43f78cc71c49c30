import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { readConfig } from '../src/server/config.ts';
import { startTestServer } from './helpers/server.ts';

/** Opens a raw WebSocket with these options: 'open', or the HTTP status the upgrade was refused with. */
function upgrade(url: string, options: WebSocket.ClientOptions = {}): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options);
    socket.once('open', () => {
      socket.close();
      resolve('open');
    });
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', (error) => reject(error));
  });
}

describe('WebSocket upgrades by Origin', () => {
  it('refuses another site with 403 before the handshake; allows none (non-browser), its own host and the Vite dev server', async () => {
    await using t = await startTestServer();
    const { wsUrl, url, port } = t.server;
    expect(await upgrade(wsUrl, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgrade(wsUrl, { origin: 'null' })).toBe(403);
    expect(await upgrade(wsUrl, { origin: `http://127.0.0.1:${port + 1}` })).toBe(403);
    expect(await upgrade(wsUrl)).toBe('open');
    expect(await upgrade(wsUrl, { origin: url })).toBe('open');
    expect(await upgrade(wsUrl, { origin: `https://127.0.0.1:${port}` })).toBe('open');
    expect(await upgrade(wsUrl, { origin: 'http://localhost:5173' })).toBe('open');
    expect(await upgrade(wsUrl, { origin: 'http://127.0.0.1:5173' })).toBe('open');
    // A proxy that keeps the browser's Host (the page's host) is the same origin too.
    expect(await upgrade(wsUrl, { origin: 'https://crm.example.com', headers: { host: 'crm.example.com' } })).toBe('open');
  });

  it('allows exactly the configured origins besides its own', async () => {
    await using t = await startTestServer({ server: { allowedOrigins: ['https://crm.example.com'] } });
    expect(await upgrade(t.server.wsUrl, { origin: 'https://crm.example.com' })).toBe('open');
    expect(await upgrade(t.server.wsUrl, { origin: 'http://localhost:5173' })).toBe(403);
    expect(await upgrade(t.server.wsUrl, { origin: t.server.url })).toBe('open');
  });
});

describe('CORS on /trpc', () => {
  it('answers preflights and adds Access-Control-Allow-Origin for allowed origins only', async () => {
    await using t = await startTestServer({ server: { allowedOrigins: ['https://crm.example.com'] } });
    const token = await t.tokenFor('alice@acme.test');
    const preflight = (origin: string) =>
      fetch(`${t.server.trpcUrl}/jobs.create`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const allowed = await preflight('https://crm.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://crm.example.com');
    expect(allowed.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(allowed.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    expect(allowed.headers.get('vary')).toMatch(/Origin/);
    const refused = await preflight('https://evil.example');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(refused.headers.get('access-control-allow-headers')).toBeNull();

    const query = (origin: string) => fetch(`${t.server.trpcUrl}/auth.me`, { headers: { origin, authorization: `Bearer ${token}` } });
    const ours = await query('https://crm.example.com');
    expect(ours.status).toBe(200);
    expect(ours.headers.get('access-control-allow-origin')).toBe('https://crm.example.com');
    expect(ours.headers.get('vary')).toMatch(/Origin/);
    const theirs = await query('https://evil.example');
    expect(theirs.headers.get('access-control-allow-origin')).toBeNull();
    expect(theirs.headers.get('vary')).toMatch(/Origin/);
    // Same origin needs no CORS; the answer is not hidden from the app either.
    expect((await query(t.server.url)).status).toBe(200);
  });
});

describe('ALLOWED_ORIGINS', () => {
  it('defaults to the Vite dev server, takes a comma-separated list, and refuses what is not an origin', () => {
    expect(readConfig({}).ALLOWED_ORIGINS).toEqual(['http://localhost:5173', 'http://127.0.0.1:5173']);
    expect(readConfig({ ALLOWED_ORIGINS: 'https://CRM.example.com, http://10.0.0.5:8080 ,https://a.example:443' }).ALLOWED_ORIGINS).toEqual([
      'https://crm.example.com',
      'http://10.0.0.5:8080',
      'https://a.example',
    ]);
    expect(() => readConfig({ ALLOWED_ORIGINS: 'https://crm.example.com/app' })).toThrow(/ALLOWED_ORIGINS: https:\/\/crm.example.com\/app is not an origin/);
    expect(() => readConfig({ ALLOWED_ORIGINS: 'crm.example.com' })).toThrow(/ALLOWED_ORIGINS/);
  });
});
