import type { IncomingMessage } from 'node:http';
import twilio from 'twilio';
import { z } from 'zod';
import { receiveIncomingCall } from '../comms/calls.ts';
import { advanceMessageStatus, receiveInboundMessage } from '../comms/conversations.ts';
import { address, messageBody, parseAddress, parseForm, sid, WebhookError, type WebhookRoute } from '../comms/webhook-http.ts';
import type { StoredMedia } from '../comms/wire.ts';
import type { AppDeps } from '../context.ts';
import { type OpenCarrier, WEBHOOK_PATHS } from './service.ts';
import { twilioMessageStatus } from './twilio.ts';

/** Twilio sends at most 10 attachments with a message. */
const MAX_MEDIA = 10;
const accountSid = z.string().regex(/^AC[0-9a-f]{32}$/, 'not an Account SID');
const inboundForm = z.object({
  AccountSid: accountSid,
  From: address,
  To: address,
  Body: messageBody.default(''),
  MessageSid: sid,
  NumMedia: z.coerce.number().int().min(0).max(MAX_MEDIA).default(0),
});
const contentType = z.string().regex(/^[\w.+-]{1,60}\/[\w.+-]{1,60}$/, 'not a content type');
const voiceForm = z.object({ AccountSid: accountSid, From: address, To: address, CallSid: sid });
const afterDialForm = z.object({ AccountSid: accountSid, CallSid: sid, DialCallStatus: z.string().max(32).default('') });
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

/**
 * The attachments of an inbound message, as references to fetch later. Only URLs under the
 * account's own resources at Twilio's API are kept: the server fetches them with the
 * account's credentials when a user opens one, and must never be sent elsewhere by a form.
 */
function inboundMedia(deps: AppDeps, carrier: OpenCarrier, form: z.infer<typeof inboundForm>, raw: Buffer): StoredMedia[] {
  const fields = new URLSearchParams(raw.toString('utf8'));
  const prefix = `${deps.carriers.twilioApiUrl}/2010-04-01/Accounts/${form.AccountSid}/`;
  const media: StoredMedia[] = [];
  for (let index = 0; index < form.NumMedia; index++) {
    const url = fields.get(`MediaUrl${index}`) ?? '';
    const type = contentType.safeParse(fields.get(`MediaContentType${index}`) ?? '');
    if (!url.startsWith(prefix) || url.length > 500 || /[\s?#]|\.\./.test(url.slice(prefix.length)))
      throw new WebhookError(400, `MediaUrl${index}: not a media URL of this account`);
    if (!type.success) throw new WebhookError(400, `MediaContentType${index}: not a content type`);
    media.push({ url, contentType: type.data.toLowerCase(), carrierId: carrier.id });
  }
  return media;
}

/**
 * The caller and the org's number a message or call names, once `To` is proven to be one of
 * the numbers of the org the account is connected to: the account may serve numbers of
 * other systems, and those are not ours to take.
 */
async function orgAddresses(deps: AppDeps, carrier: OpenCarrier, form: { To: string; From: string }) {
  const to = parseAddress(form.To, 'To');
  const from = parseAddress(form.From, 'From');
  const owner = await deps.db.phoneNumber.findUnique({ where: { number: to.number }, select: { orgId: true } });
  if (owner?.orgId !== carrier.orgId) throw new WebhookError(404, `To: ${to.number} is not a number of the org this account is connected to`);
  return { to, from };
}

const emptyTwiml = () => new twilio.twiml.MessagingResponse().toString();

/** What a caller hears when nobody took the call: a prompt, then a recorded message. */
function voicemail(twiml = new twilio.twiml.VoiceResponse()) {
  twiml.say('Sorry, nobody can take your call right now. Please leave a message after the tone.');
  twiml.record({ maxLength: 120, playBeep: true });
  return twiml.toString();
}

export const twilioRoutes: Record<string, WebhookRoute> = {
  /** An SMS (or WhatsApp message through Twilio) to one of the org's numbers; answered with empty TwiML (no automatic reply). */
  [WEBHOOK_PATHS.sms]: async (deps, req, raw) => {
    const form = parseForm(inboundForm, raw);
    const carrier = await authenticate(deps, req, raw, form.AccountSid);
    const { to, from } = await orgAddresses(deps, carrier, form);
    const media = inboundMedia(deps, carrier, form, raw);
    if (!form.Body.trim() && !media.length) throw new WebhookError(400, 'Body: the message is empty');
    await receiveInboundMessage(deps, {
      orgId: carrier.orgId,
      channel: from.channel,
      from: from.number,
      to: to.number,
      body: form.Body,
      providerSid: form.MessageSid,
      media,
    });
    return { status: 200, xml: emptyTwiml() };
  },
  /**
   * A call to one of the org's numbers: `call.incoming` to the org (and `call.missed` if no
   * agent takes it within the ring time, as for every call), while the caller hears it ring
   * at the org's forwarding number for that long, then voicemail. Twilio retries a voice
   * webhook it got no answer to; the same CallSid is one call.
   */
  [WEBHOOK_PATHS.voice]: async (deps, req, raw, options) => {
    const form = parseForm(voiceForm, raw);
    const carrier = await authenticate(deps, req, raw, form.AccountSid);
    const { to, from } = await orgAddresses(deps, carrier, form);
    await receiveIncomingCall(deps, { orgId: carrier.orgId, callSid: form.CallSid, from: from.number, to: to.number, ringTimeoutMs: options.ringTimeoutMs });
    if (!carrier.forwardTo) return { status: 200, xml: voicemail() };
    const twiml = new twilio.twiml.VoiceResponse();
    // When the dial ends Twilio asks `action` what next: voicemail unless someone answered.
    twiml
      .dial({ timeout: Math.max(5, Math.round(options.ringTimeoutMs / 1000)), answerOnBridge: true, action: `${deps.publicUrl}${WEBHOOK_PATHS.afterDial}`, method: 'POST' })
      .number(carrier.forwardTo);
    return { status: 200, xml: twiml.toString() };
  },
  /** The forwarded call ended: hang up if it was answered, else voicemail. */
  [WEBHOOK_PATHS.afterDial]: async (deps, req, raw) => {
    const form = parseForm(afterDialForm, raw);
    await authenticate(deps, req, raw, form.AccountSid);
    if (form.DialCallStatus === 'completed' || form.DialCallStatus === 'answered') {
      const twiml = new twilio.twiml.VoiceResponse();
      twiml.hangup();
      return { status: 200, xml: twiml.toString() };
    }
    return { status: 200, xml: voicemail() };
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
