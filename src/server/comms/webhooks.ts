import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Channel } from '../../shared/comms.ts';
import { stripControlCharacters } from '../../shared/text.ts';
import type { AppDeps } from '../context.ts';
import { receiveIncomingCall } from './calls.ts';
import { carrierStatus, receiveInboundMessage, updateDeliveryStatus } from './conversations.ts';
import { normalizePhone } from './phone.ts';

export interface WebhookOptions {
  /** An incoming call not answered within this is missed. */
  ringTimeoutMs: number;
}

export const SIGNATURE_HEADER = 'x-tandem-signature';
export const TIMESTAMP_HEADER = 'x-tandem-timestamp';
/** A signed request older (or newer) than this is refused: a captured request cannot be replayed later. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const MAX_BODY_BYTES = 64 * 1024;

/** `sha256=` + hex HMAC-SHA256 of `<timestamp>.<raw body>` under the org's webhook secret. */
export function signWebhook(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64url')}`;

class WebhookError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const sid = z.string().regex(/^[A-Za-z0-9]{10,64}$/, 'must be 10–64 letters and digits');
/** `+15551234567`, or `whatsapp:+15551234567` (the channel comes from the prefix). */
const address = z.string().trim().min(3).max(48);

/**
 * A carrier relays what the customer typed, control characters included (PostgreSQL cannot
 * store NUL). Refusing the request would lose the customer's message, so they are dropped and
 * the text is kept; tabs and line breaks stay.
 */
const messageBody = z.string().max(1600).transform(stripControlCharacters);
const smsForm = z.object({ From: address, To: address, Body: messageBody, MessageSid: sid });
const voiceForm = z.object({ From: address, To: address, CallSid: sid });
const statusForm = z.object({ From: address, MessageSid: sid, MessageStatus: z.string().min(1).max(32) });

function parseAddress(value: string, field: string): { number: string; channel: Channel } {
  const whatsapp = value.startsWith('whatsapp:');
  const number = normalizePhone(whatsapp ? value.slice('whatsapp:'.length) : value);
  if (!number) throw new WebhookError(400, `${field}: not a phone number`);
  return { number, channel: whatsapp ? 'whatsapp' : 'sms' };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new WebhookError(413, 'Body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseForm<T>(schema: z.ZodType<T>, raw: Buffer): T {
  const fields = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  const parsed = schema.safeParse(fields);
  if (!parsed.success) {
    throw new WebhookError(400, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}

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

type Route = (deps: AppDeps, req: IncomingMessage, raw: Buffer, options: WebhookOptions) => Promise<{ status: number; body: object }>;

const routes: Record<string, Route> = {
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
        const { status, body } = await route(deps, req, raw, options);
        reply(status, body);
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
