import type { IncomingMessage } from 'node:http';
import twilio from 'twilio';
import { z } from 'zod';
import { advanceMessageStatus, receiveInboundMessage } from '../comms/conversations.ts';
import { address, messageBody, parseAddress, parseForm, sid, WebhookError, type WebhookRoute } from '../comms/webhook-http.ts';
import type { AppDeps } from '../context.ts';
import { type OpenCarrier, WEBHOOK_PATHS } from './service.ts';
import { twilioMessageStatus } from './twilio.ts';

const accountSid = z.string().regex(/^AC[0-9a-f]{32}$/, 'not an Account SID');
const inboundForm = z.object({ AccountSid: accountSid, From: address, To: address, Body: messageBody.default(''), MessageSid: sid });
const statusForm = z.object({
  AccountSid: accountSid,
  MessageSid: sid,
  MessageStatus: z.string().min(1).max(32),
  ErrorCode: z.string().max(16).optional(),
});

/**
 * The org's carrier for the account the request names, once its signature proves Twilio
 * sent it: HMAC-SHA1 under the account's Auth Token of the URL Twilio called (PUBLIC_URL
 * and the path with its query) and the form's fields, checked by the `twilio` package.
 */
async function authenticate(deps: AppDeps, req: IncomingMessage, raw: Buffer, account: string): Promise<OpenCarrier> {
  if (!deps.publicUrl) throw new WebhookError(503, 'Set PUBLIC_URL: Twilio signs the URL it calls, so the server must know it');
  const signature = req.headers['x-twilio-signature'];
  if (typeof signature !== 'string') throw new WebhookError(403, 'Missing X-Twilio-Signature');
  const url = `${deps.publicUrl}${req.url ?? ''}`;
  const params = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  for (const carrier of await deps.carriers.byAccount('twilio', account)) {
    if (twilio.validateRequest(carrier.webhookSecret, signature, url, params)) return carrier;
  }
  throw new WebhookError(403, 'Unknown account or bad signature');
}

const emptyTwiml = () => new twilio.twiml.MessagingResponse().toString();

export const twilioRoutes: Record<string, WebhookRoute> = {
  /** An SMS (or WhatsApp message through Twilio) to one of the org's numbers; answered with empty TwiML (no automatic reply). */
  [WEBHOOK_PATHS.sms]: async (deps, req, raw) => {
    const form = parseForm(inboundForm, raw);
    const carrier = await authenticate(deps, req, raw, form.AccountSid);
    const to = parseAddress(form.To, 'To');
    const from = parseAddress(form.From, 'From');
    const owner = await deps.db.phoneNumber.findUnique({ where: { number: to.number }, select: { orgId: true } });
    // The account may serve numbers of other systems: a number that is not this org's is not ours to take.
    if (owner?.orgId !== carrier.orgId) throw new WebhookError(404, `To: ${to.number} is not a number of the org this account is connected to`);
    if (!form.Body.trim()) throw new WebhookError(400, 'Body: the message is empty');
    await receiveInboundMessage(deps, { orgId: carrier.orgId, channel: from.channel, from: from.number, to: to.number, body: form.Body, providerSid: form.MessageSid });
    return { status: 200, xml: emptyTwiml() };
  },
  /**
   * A delivery report for a message sent through the outbox: `?m=` names our message (so a
   * report settles an attempt whose answer was lost), else the MessageSid finds it.
   */
  [WEBHOOK_PATHS.status]: async (deps, req, raw) => {
    const form = parseForm(statusForm, raw);
    const carrier = await authenticate(deps, req, raw, form.AccountSid);
    const status = twilioMessageStatus(form.MessageStatus);
    if (!status) return { status: 200, body: { ok: true, changed: false } };
    const messageId = new URL(req.url ?? '', 'http://x').searchParams.get('m');
    const report = { status, providerSid: form.MessageSid, reason: form.ErrorCode ? `Twilio error ${form.ErrorCode}` : undefined };
    let outcome = messageId ? await advanceMessageStatus(deps, carrier.orgId, { messageId }, report) : 'unknown';
    if (outcome === 'unknown') outcome = await advanceMessageStatus(deps, carrier.orgId, { providerSid: form.MessageSid }, report);
    if (outcome === 'unknown') return { status: 404, body: { error: `No message ${messageId ?? form.MessageSid}` } };
    return { status: 200, body: { ok: true, changed: outcome === 'updated' } };
  },
};
