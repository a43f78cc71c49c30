import { z } from 'zod';
import { withIdempotencyKey } from './mutations.ts';

export const ROLES = ['admin', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export const loginInput = z.strictObject({
  email: z.email().max(254).transform((value) => value.toLowerCase()),
  password: z.string().min(1).max(200),
  ...withIdempotencyKey,
});

export interface PublicUser {
  id: string;
  orgId: string;
  orgName: string;
  email: string;
  name: string;
  role: Role;
}
