import { newWebhookSecret } from '../comms/webhooks.ts';
import { withIdempotencyKey } from '../../shared/mutations.ts';
import { z } from 'zod';
import { adminProcedure, router } from '../trpc.ts';

/** Webhook settings hold the org's signing secret: admins only. */
const webhookAdminProcedure = adminProcedure('see or change webhook settings');

export const webhooksRouter = router({
  /** What a carrier needs to call the org's webhooks: its numbers, the signing secret and the paths. */
  settings: webhookAdminProcedure.query(async ({ ctx }) => {
    const org = await ctx.db.org.findUniqueOrThrow({ where: { id: ctx.user.orgId }, select: { webhookSecret: true, phoneNumbers: { select: { number: true } } } });
    return {
      numbers: org.phoneNumbers.map((row) => row.number),
      secret: org.webhookSecret,
      paths: { sms: '/webhooks/sms', voice: '/webhooks/voice', status: '/webhooks/status' },
      signature: { header: 'X-Tandem-Signature', timestampHeader: 'X-Tandem-Timestamp', scheme: 'sha256=hex(HMAC-SHA256(secret, timestamp + "." + rawBody))' },
    };
  }),
  /** A new secret; requests signed with the old one are refused from now on. */
  rotateSecret: webhookAdminProcedure.input(z.strictObject({ ...withIdempotencyKey }).optional()).mutation(async ({ ctx }) => {
    const secret = newWebhookSecret();
    await ctx.db.org.update({ where: { id: ctx.user.orgId }, data: { webhookSecret: secret } });
    return { secret };
  }),
});
