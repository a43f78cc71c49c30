import type { TRPCClientErrorLike } from '@trpc/client';
import type { DecorateRouterRecord } from '@trpc/react-query';
import type { AppRouter } from '../../../server/routers/_app.ts';
import type { AnyRecordRouter } from '../../../server/routers/records.ts';
import type { ModuleName } from '../../../shared/modules.ts';
import type { CachedRecord } from '../realtime/patch.ts';
import { trpc } from '../trpc.ts';

/**
 * The hooks of any module's record router: the six routers have one shape (built by one
 * function on the server), and TypeScript cannot call a union of six hook signatures, so
 * the generic pages call this one, whose inputs and records are the unions over the six
 * modules. What is sent is checked against the module's own zod schema before it leaves
 * the browser.
 */
export type RecordApi = DecorateRouterRecord<AppRouter['_def']['_config']['$types'], AnyRecordRouter['_def']['record']>;

export function recordApi(module: ModuleName): RecordApi {
  return trpc[module];
}

export type ApiError = TRPCClientErrorLike<AppRouter>;

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
