import { z } from 'zod';
import { withIdempotencyKey } from './mutations.ts';
import { idSchema, line, plain } from './text.ts';

export const ROLES = ['admin', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export const loginInput = z.strictObject({
  email: z
    .email()
    .max(254)
    .transform((value) => value.toLowerCase()),
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

const email = z
  .email()
  .max(254)
  .transform((value) => value.toLowerCase());
/** A new password: at least 8 characters (the current one, checked against its hash, only needs to be given). */
export const newPassword = z.string().min(8, 'At least 8 characters').max(200);
const id = idSchema;
const role = z.enum(ROLES);

export const logoutInput = z.strictObject({ ...withIdempotencyKey }).optional();

export const changePasswordInput = z.strictObject({
  currentPassword: z.string().min(1).max(200),
  newPassword,
  ...withIdempotencyKey,
});

export const inviteInput = z.strictObject({ email, role, ...withIdempotencyKey });

/** An invitation's token as the link carries it (base64url of 32 random bytes). */
export const invitationToken = z.string().regex(/^[A-Za-z0-9_-]{20,128}$/, 'Not an invitation token');

export const acceptInvitationInput = z.strictObject({
  token: invitationToken,
  name: line(100).min(1, 'A name is required'),
  password: newPassword,
  ...withIdempotencyKey,
});

export const setRoleInput = z.strictObject({ userId: id, role, ...withIdempotencyKey });
export const userIdInput = z.strictObject({ userId: id, ...withIdempotencyKey });
export const invitationIdInput = z.strictObject({ id, ...withIdempotencyKey });

/** The most people one `users.list` page holds (its default: 50, as the record lists). */
export const MAX_USERS_PAGE = 200;

/** A page of the org's people by name; `cursor` is the `nextCursor` of the page before. */
export const usersListInput = z.strictObject({
  limit: z.number().int().min(1).max(MAX_USERS_PAGE).default(50),
  cursor: plain().min(1).max(1000).optional(),
  /** Sent by @trpc/react-query's infinite queries; pages only go forward. */
  direction: z.enum(['forward', 'backward']).optional(),
});

/** A person of the org as `users.list` shows them; `active` is false while deactivated. */
export interface TeamMember {
  id: string;
  name: string;
  email: string;
  role: Role;
  active: boolean;
}

/** An invitation not yet accepted, revoked or expired. */
export interface PendingInvitation {
  id: string;
  email: string;
  role: Role;
  invitedById: string;
  createdAt: string;
  expiresAt: string;
}
