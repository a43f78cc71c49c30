import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { createHttpContextFactory, type AppDeps, type Context } from '../context.ts';
import { appRouter } from '../routers/_app.ts';
import { corsResponseMeta, type OriginPolicy } from './origins.ts';

export const TRPC_PATH = '/trpc';
const MAX_HTTP_BODY = 1024 * 1024;

export type ProcedureErrorHandler = (options: { error: TRPCError; path?: string | undefined; ctx?: Context | undefined }) => void;

/** `/trpc/a,b,c?batch=1`: more calls than allowed in one request. */
function isOversizedBatch(url: string | undefined, pathname: string, maxBatchSize: number): boolean {
  if (!url?.includes('batch=1')) return false;
  let calls = 1;
  for (let i = TRPC_PATH.length; i < pathname.length; i++) if (pathname.charCodeAt(i) === 44 /* , */) calls += 1;
  return calls > maxBatchSize;
}

/** tRPC's error shape for TOO_MANY_REQUESTS, for a request refused before it reaches tRPC's handler. */
function tooManyRequestsResponse(res: ServerResponse, message: string) {
  const error = { message, code: TRPC_ERROR_CODES_BY_KEY.TOO_MANY_REQUESTS, data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, retryAfterMs: 0 } };
  res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
}

/**
 * tRPC over HTTP at `/trpc/…`: tRPC's own handler, behind CORS for the allowed origins and
 * a batch cap checked from the URL before any body is read. Subscriptions are refused
 * (context.ts), with status 405 so that an EventSource does not reconnect.
 */
export function createHttpDoor(deps: AppDeps, options: { maxBatchSize: number; origins: OriginPolicy; onError: ProcedureErrorHandler }) {
  const handler = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PATH}/`,
    maxBodySize: MAX_HTTP_BODY,
    // What isOversizedBatch missed (an encoded comma) is still refused, as BAD_REQUEST.
    maxBatchSize: options.maxBatchSize,
    createContext: createHttpContextFactory(deps),
    onError: options.onError,
    responseMeta: ({ type }) => (type === 'subscription' ? { ...corsResponseMeta(), status: 405 } : corsResponseMeta()),
  });
  return (req: IncomingMessage, res: ServerResponse, pathname: string): void => {
    if (options.origins.applyCors(req, res)) return;
    if (isOversizedBatch(req.url, pathname, options.maxBatchSize)) {
      deps.metrics.rateLimited.inc({ limit: 'requests per batch' });
      tooManyRequestsResponse(res, `Too many requests (requests per batch: at most ${options.maxBatchSize})`);
      return;
    }
    handler(req, res);
  };
}
