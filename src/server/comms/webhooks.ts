import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { twilioRoutes } from '../carriers/twilio-webhooks.ts';
import type { AppDeps } from '../context.ts';
import { receiveIncomingCall } from './calls.ts';
import { carrierStatus, receiveInboundMessage, updateDeliveryStatus } from './conversations.ts';
import { address, messageBody, parseAddress, parseForm, readBody, sid, WebhookError, type WebhookOptions, type WebhookRoute } from './webhook-http.ts';

export type { WebhookOptions } from './webhook-http.ts';

const smsForm = z.object({ From: address, To: address, Body: messageBody, MessageSid: sid });
const voiceForm = z.object({ From: address, To: address, CallSid: sid });
const statusForm = z.object({ From: address, MessageSid: sid, MessageStatus: z.string().min(1).max(32) });

export const SIGNATURE_HEADER = 'x-tandem-signature';
export const TIMESTAMP_HEADER = 'x-tandem-timestamp';
/** A signed request older (or newer) than this is refused: a captured request cannot be replayed later. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** `sha256=` + hex HMAC-SHA256 of `<timestamp>.<raw body>` under the org's webhook secret. */
export function signWebhook(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64url')}`;

/** The org owning `number`, once the request is proven to come from whoever holds its secret. */
async function authenticate(deps: Pick<AppDeps, 'db'>, req: IncomingMessage, raw: Buffer, number: string): Promise<string> {
  const unauthorized = new WebhookError(401, 'Unknown number or bad signature');
  const owner = await deps.db.phoneNumber.findUnique({ where: { number }, select: { org: { select: { id: true, webhookSecret: true } } } });
  const signature = req.headers[SIGNATURE_HEADER];
  const timestamp = req.headers[TIMESTAMP_HEADER];
  if (!owner?.org.webhookSecret || typeof signature !== 'string' || typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) throw unauthorized;
  if (Math.abs(Date.now() - Number(timestamp) * 1000) > MAX_CLOCK_SKEW_MS) throw new WebhookError(401, 'Signature timestamp too old or in the future');
  const expected = Buffer.from(signWebhook(owner.org.webhookSecret, timestamp, raw));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized;
  return owner.org.id;
}

const routes: Record<string, WebhookRoute> = {
  ...twilioRoutes,
  /** An inbound SMS or WhatsApp message. */
  '/webhooks/sms': async (deps, req, raw) => {
    const form = parseForm(smsForm, raw);
    const to = parseAddress(form.To, 'To');
    const from = parseAddress(form.From, 'From');
    const orgId = await authenticate(deps, req, raw, to.number);
    if (!form.Body.trim()) throw new WebhookError(400, 'Body: the message is empty');
    const outcome = await receiveInboundMessage(deps, {
      orgId,
      channel: from.channel,
      from: from.number,
      to: to.number,
      body: form.Body,
      providerSid: form.MessageSid,
    });
    return { status: 200, body: { ok: true, duplicate: outcome.duplicate, conversationId: outcome.conversation.id, messageId: outcome.message.id } };
  },
  /** A call ringing on one of the org's numbers. */
  '/webhooks/voice': async (deps, req, raw, options) => {
    const form = parseForm(voiceForm, raw);
    const to = parseAddress(form.To, 'To');
    const from = parseAddress(form.From, 'From');
    const orgId = await authenticate(deps, req, raw, to.number);
    const outcome = await receiveIncomingCall(deps, { orgId, callSid: form.CallSid, from: from.number, to: to.number, ringTimeoutMs: options.ringTimeoutMs });
    return { status: 200, body: { ok: true, duplicate: outcome.duplicate, callId: outcome.call.id } };
  },
  /** A delivery report for a message the org sent (`From` is the org's number). */
  '/webhooks/status': async (deps, req, raw) => {
    const form = parseForm(statusForm, raw);
    const from = parseAddress(form.From, 'From');
    const orgId = await authenticate(deps, req, raw, from.number);
    const status = carrierStatus(form.MessageStatus);
    if (!status) throw new WebhookError(400, `MessageStatus: unknown status ${form.MessageStatus}`);
    const outcome = await updateDeliveryStatus(deps, orgId, form.MessageSid, status);
    if (outcome === 'unknown') return { status: 404, body: { error: `No message with MessageSid ${form.MessageSid}` } };
    return { status: 200, body: { ok: true, changed: outcome === 'updated' } };
  },
};

/**
 * Serves POST /webhooks/sms, /webhooks/voice and /webhooks/status (Twilio-style form
 * fields). Returns false for other paths. A malformed body is 400, an unknown number
 * or bad signature 401; neither changes anything.
 */
export function createWebhookHandler(deps: AppDeps, options: WebhookOptions) {
  return (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    const route = routes[pathname];
    if (!route) return false;
    const reply = (status: number, body: object) => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const replyXml = (status: number, xml: string) => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/xml' }).end(xml);
    };
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      reply(405, { error: 'Use POST' });
      return true;
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      reply(415, { error: 'Send application/x-www-form-urlencoded' });
      return true;
    }
    void (async () => {
      try {
        const raw = await readBody(req);
        const answer = await route(deps, req, raw, options);
        if ('xml' in answer) replyXml(answer.status, answer.xml);
        else reply(answer.status, answer.body);
      } catch (error) {
        if (error instanceof WebhookError) return reply(error.status, { error: error.message });
        // As for procedures (trpc.ts): the carrier gets an id, the log gets the details.
        const errorId = randomBytes(6).toString('hex');
        deps.logger.error('webhook failed', { errorId, path: pathname, err: error });
        reply(500, { error: `Internal error (id ${errorId})` });
      }
    })();
    return true;
  };
}
