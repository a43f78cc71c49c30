import type { TRPCClientErrorLike } from '@trpc/client';
import type { AppRouter } from '../../../server/routers/_app.ts';
import type { ModuleName } from '../../../shared/modules.ts';
import type { CachedRecord } from '../realtime/patch.ts';
import { trpc } from '../trpc.ts';

/**
 * The six record routers have one shape (they are built by one function on the server),
 * but TypeScript cannot call a union of six hook signatures. The generic pages use one
 * module's hooks as the type of all of them and treat records as `CachedRecord`; what is
 * sent is checked against the module's own zod schema before it leaves the browser.
 */
export type RecordApi = (typeof trpc)['jobs'];

export function recordApi(module: ModuleName): RecordApi {
  return trpc[module] as unknown as RecordApi;
}

export type ApiError = TRPCClientErrorLike<AppRouter>;

export const asRecord = (value: unknown) => value as CachedRecord;

/** The zod field errors of a BAD_REQUEST, by field. */
export function fieldErrorsOf(error: unknown): Record<string, string[]> {
  const data = (error as { data?: { zodError?: { fieldErrors?: Record<string, string[]> } | null } } | null)?.data;
  return data?.zodError?.fieldErrors ?? {};
}

export function errorCode(error: unknown): string | undefined {
  return (error as { data?: { code?: string } } | null)?.data?.code;
}

/** The current record a CONFLICT carries. */
export function conflictCurrent(error: unknown): CachedRecord | undefined {
  const data = (error as { data?: { code?: string; current?: unknown } } | null)?.data;
  return data?.code === 'CONFLICT' && data.current ? (data.current as CachedRecord) : undefined;
}

export function messageOf(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error && typeof error.message === 'string') return error.message;
  return 'Something went wrong';
}
