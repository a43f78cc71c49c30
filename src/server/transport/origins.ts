import type { IncomingMessage, ServerResponse } from 'node:http';

/** The Vite dev server (`npm run dev`, vite.config.ts), which proxies /trpc to the API. */
export const DEV_SERVER_ORIGINS = ['http://localhost:5173', 'http://127.0.0.1:5173'] as const;

/** What a browser may send cross-origin to /trpc: the token and JSON (httpBatchLink sends nothing else). */
const CORS_HEADERS = {
  'access-control-allow-methods': 'GET, POST',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-max-age': '600',
};

/**
 * Which web pages may talk to the API from a browser: pages served by this server (an
 * `Origin` whose host is the request's `Host`) and the listed origins. Browsers always send
 * `Origin` on a WebSocket upgrade and on cross-origin requests; a page of another site
 * must not open a socket or read answers with a token it got hold of, nor make a signed-in
 * user's browser do so (a WebSocket is not protected by CORS).
 */
export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  constructor(allowed: readonly string[] = DEV_SERVER_ORIGINS) {
    this.#allowed = new Set(allowed.map((origin) => origin.toLowerCase()));
  }

  /** Whether a request with this `Origin` may proceed; `host` is the request's `Host` header. */
  allows(origin: string, host: string | undefined): boolean {
    if (this.#allowed.has(origin.toLowerCase())) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    // Scheme unknown behind a TLS-terminating proxy: http or https on the same host.
    return (url.protocol === 'http:' || url.protocol === 'https:') && host !== undefined && url.host === host.toLowerCase();
  }

  /** Whether a WebSocket upgrade may proceed: no `Origin` (not a browser: Node's ws, curl) or an allowed one. */
  allowsUpgrade(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin === undefined || this.allows(origin, req.headers.host);
  }

  /**
   * CORS for /trpc over HTTP: an allowed origin gets `Access-Control-Allow-Origin` (and a
   * preflight its answer); any other gets no CORS header, so its browser keeps the answer
   * from the page. Returns true when it answered the request (a preflight).
   */
  applyCors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && this.allows(origin, req.headers.host);
    if (allowed) res.setHeader('access-control-allow-origin', origin);
    // tRPC's answers add `Vary: Origin` through `corsResponseMeta` (tRPC sets its own `vary`).
    if (req.method !== 'OPTIONS') return false;
    res.writeHead(204, { vary: 'Origin', ...(allowed ? CORS_HEADERS : {}) }).end();
    return true;
  }
}

/** For tRPC's `responseMeta`: a `Headers` is appended to tRPC's own `vary` rather than replacing it. */
export const corsResponseMeta = () => ({ headers: new Headers([['vary', 'Origin']]) });

/**
 * `ALLOWED_ORIGINS`: comma-separated origins such as `https://crm.example.com`, each
 * normalized as a browser sends it (lower case, no default port); an error names a bad one.
 */
export function parseOrigins(value: string): { origins: string[] } | { error: string } {
  const origins: string[] = [];
  for (const entry of value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    const isOrigin = url && (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
    if (!url || !isOrigin) return { error: `${entry} is not an origin: scheme://host[:port], without path` };
    origins.push(url.origin);
  }
  return { origins };
}
