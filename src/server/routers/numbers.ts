import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { withIdempotencyKey } from '../../shared/mutations.ts';
import { normalizePhone } from '../comms/phone.ts';
import { adminProcedure, router } from '../trpc.ts';

/** The org's numbers decide which org an inbound message or call is for: admins only. */
const numbersAdminProcedure = adminProcedure("manage the org's phone numbers");

const numberInput = z.strictObject({
  number: z
    .string()
    .max(32)
    .regex(/^[+0-9 ().-]{3,32}$/, 'Invalid phone number'),
  ...withIdempotencyKey,
});

/** Most a single org may hold; more is a mistake or an attempt to squat numbers. */
const MAX_NUMBERS_PER_ORG = 100;

export const numbersRouter = router({
  list: numbersAdminProcedure.query(async ({ ctx }) => {
    const rows = await ctx.db.phoneNumber.findMany({ where: { orgId: ctx.user.orgId }, orderBy: { createdAt: 'asc' }, select: { number: true } });
    return rows.map((row) => row.number);
  }),
  /** Adds a number the org answers on (its Twilio number, say), in E.164. */
  create: numbersAdminProcedure.input(numberInput).mutation(async ({ ctx, input }) => {
    const number = normalizePhone(input.number);
    if (!number) throw new TRPCError({ code: 'BAD_REQUEST', message: 'number: Invalid phone number' });
    if ((await ctx.db.phoneNumber.count({ where: { orgId: ctx.user.orgId } })) >= MAX_NUMBERS_PER_ORG) {
      throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `An org has at most ${MAX_NUMBERS_PER_ORG} numbers` });
    }
    const existing = await ctx.db.phoneNumber.findUnique({ where: { number }, select: { orgId: true } });
    if (existing?.orgId === ctx.user.orgId) return { number };
    // Whose it is stays unsaid: another org's numbers are not this org's business.
    if (existing) throw new TRPCError({ code: 'CONFLICT', message: `${number} is already in use` });
    await ctx.db.phoneNumber.create({ data: { number, orgId: ctx.user.orgId } });
    return { number };
  }),
  delete: numbersAdminProcedure.input(numberInput).mutation(async ({ ctx, input }) => {
    const number = normalizePhone(input.number) ?? input.number;
    const { count } = await ctx.db.phoneNumber.deleteMany({ where: { number, orgId: ctx.user.orgId } });
    if (!count) throw new TRPCError({ code: 'NOT_FOUND', message: `${number} is not one of the org's numbers` });
    return { number, deleted: true };
  }),
});
