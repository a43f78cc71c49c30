import { z } from 'zod';

/**
 * Every mutation accepts this optional key. A repeat with the same key (by the same
 * user) returns the first call's result without applying the change again; the
 * project's client link fills it in once per call and keeps it across retries.
 */
export const idempotencyKeySchema = z
  .string()
  .min(8)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'idempotencyKey may hold letters, digits and _ . : - only');

export const withIdempotencyKey = { idempotencyKey: idempotencyKeySchema.optional() };
