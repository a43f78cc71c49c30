import { TRPCClientError, type Operation, type OperationResultEnvelope } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from '../../server/routers/_app.ts';
import { backoffDelay } from './backoff.ts';
import type { TransportContext } from './subscription.ts';

type Envelope = OperationResultEnvelope<unknown, TRPCClientError<AppRouter>>;

/** A random key; `crypto.randomUUID` exists only in secure contexts, `getRandomValues` everywhere. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Mutations get an idempotencyKey (once per call; the same one on every retry). */
export function withIdempotencyKey(op: Operation): Operation {
  if (op.type !== 'mutation') return op;
  const input = op.input;
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) return op;
  if (input && 'idempotencyKey' in input) return op;
  return { ...op, input: { ...(input ?? {}), idempotencyKey: newIdempotencyKey() } };
}

/** How long to wait when the server answered SERVICE_UNAVAILABLE with `retryAfterMs` (too busy: the call changed nothing); else undefined. */
function serverBusyFor(error: unknown): number | undefined {
  if (!(error instanceof TRPCClientError)) return undefined;
  const data = error.data as { code?: string; retryAfterMs?: unknown } | null | undefined;
  return data?.code === 'SERVICE_UNAVAILABLE' && typeof data.retryAfterMs === 'number' ? data.retryAfterMs : undefined;
}

export interface RetryOptions {
  /** How long a call keeps being retried on network failures before it fails. @default 60_000 */
  retryWindowMs: number;
}

/**
 * A query or mutation over whichever transport is up. When the transport fails before
 * the server answers (the socket dropped with the call in flight, or HTTP could not
 * reach the server), the call is sent again, over the transport that is up by then,
 * until the server answers or the retry window closes. Mutations carry their
 * idempotencyKey, so a retry of a call the server already applied returns its first
 * result instead of applying it twice. A call the server refused as too busy
 * (SERVICE_UNAVAILABLE with `retryAfterMs`: it changed nothing) is sent again after that
 * hint, within the same window.
 */
export function retryingRequest(context: TransportContext, op: Operation, options: RetryOptions) {
  return observable<Envelope, TRPCClientError<AppRouter>>((observer) => {
    const deadline = Date.now() + options.retryWindowMs;
    let current: { unsubscribe(): void } | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let attempt = 0;

    const send = () => {
      if (stopped) return;
      const link = context.connection.state === 'open' ? context.overWs().link : context.overHttp;
      current = link({ op, next: () => observable(() => undefined) }).subscribe({
        next: (envelope) => observer.next(envelope),
        complete: () => observer.complete(),
        error(error) {
          const answered = error instanceof TRPCClientError && error.data !== undefined && error.data !== null;
          const busyFor = serverBusyFor(error);
          if ((answered && busyFor === undefined) || stopped || op.signal?.aborted || Date.now() >= deadline) {
            observer.error(error);
            return;
          }
          attempt += 1;
          if (busyFor !== undefined) {
            // The server refused it unchanged: again after its hint, spread out so that the
            // callers it refused together do not all come back together.
            const delay = Math.max(busyFor, backoffDelay(attempt - 1, { baseMs: 50, capMs: 2_000, jitter: 0 })) * (1 + Math.random());
            if (Date.now() + delay >= deadline) {
              observer.error(error);
              return;
            }
            timer = setTimeout(send, delay);
            return;
          }
          // Retry when the connection changes (e.g. the socket is back) or after a short backoff:
          // 200, 400, 800 ms … 2 s, exact as before (the connection coming back is what usually retries first).
          const delay = backoffDelay(attempt, { baseMs: 100, capMs: 2_000, jitter: 0 });
          const unsubscribe = context.connection.subscribe(({ state }) => {
            if (state === 'open' || state === 'fallback-polling') retry();
          });
          const retry = () => {
            unsubscribe();
            clearTimeout(timer);
            send();
          };
          timer = setTimeout(retry, delay);
        },
      });
    };
    send();
    return () => {
      stopped = true;
      clearTimeout(timer);
      current?.unsubscribe();
    };
  });
}
