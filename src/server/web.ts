import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Serves the built web app (GET requests outside /trpc and /healthz).
 * Returns false when it did not handle the request, so the server answers 404.
 */
export function serveWebApp(_req: IncomingMessage, _res: ServerResponse): boolean {
  return false;
}
