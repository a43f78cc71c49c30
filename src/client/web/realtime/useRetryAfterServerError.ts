import { useEffect, useRef } from 'react';
import { errorCode } from '../modules/api.ts';

const RETRY_MS = 2_000;

/**
 * The link survives transport trouble by itself, so an error on a subscription is the
 * server ending the stream: retried after 2 s (`onRetry` first, e.g. to refetch once it
 * starts again), except a lost session, which goes to `onUnauthorized` (or is left to the
 * app's record stream, which signs out).
 */
export function useRetryAfterServerError(
  subscription: { status: string; error: unknown; reset: () => void },
  { onRetry, onUnauthorized }: { onRetry?: () => void; onUnauthorized?: () => void } = {},
): void {
  const { status, error, reset } = subscription;
  const callbacks = useRef({ onRetry, onUnauthorized });
  callbacks.current = { onRetry, onUnauthorized };
  useEffect(() => {
    if (status !== 'error') return;
    if (errorCode(error) === 'UNAUTHORIZED') {
      callbacks.current.onUnauthorized?.();
      return;
    }
    const timer = setTimeout(() => {
      callbacks.current.onRetry?.();
      reset();
    }, RETRY_MS);
    return () => clearTimeout(timer);
  }, [status, error, reset]);
}
