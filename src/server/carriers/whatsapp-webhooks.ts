import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { stripControlCharacters } from '../../shared/text.ts';
import { advanceMessageStatus, receiveInboundMessage } from '../comms/conversations.ts';
import { normalizePhone } from '../comms/phone.ts';
import { readBody, WebhookError } from '../comms/webhook-http.ts';
import type { StoredMedia } from '../comms/wire.ts';
import type { AppDeps } from '../context.ts';
import { WHATSAPP_GRAPH_VERSION } from './whatsapp-cloud.ts';
import { type OpenCarrier, WHATSAPP_WEBHOOK_PATH } from './service.ts';

/** Meta batches updates; its payloads stay well under this. */
const MAX_BODY_BYTES = 1024 * 1024;
/** One app's webhook names its own numbers; a body naming more is not Meta's. */
const MAX_NUMBERS_PER_BODY = 20;
/** Bodies read at once, before any signature is known: at most this many megabytes held by strangers (Meta retries a 503). */
const MAX_READING = 32;

const digits = z.string().regex(/^\+?\d{6,20}$/);
const attachment = z.object({
  id: z.string().regex(/^\d{1,30}$/),
  mime_type: z.string().regex(/^[\w.+-]{1,60}\/[\w.+-]{1,60}(;.{0,60})?$/),
  caption: z.string().max(4096).optional(),
});
const MEDIA_TYPES = ['image', 'document', 'audio', 'video', 'sticker'] as const;
const inboundMessage = z.object({
  from: digits,
  id: z.string().min(1).max(200),
  type: z.string().max(32),
  text: z.object({ body: z.string().max(4096) }).optional(),
  image: attachment.optional(),
  document: attachment.optional(),
  audio: attachment.optional(),
  video: attachment.optional(),
  sticker: attachment.optional(),
});
const status = z.object({
  id: z.string().min(1).max(200),
  status: z.string().max(32),
  biz_opaque_callback_data: z.string().max(512).optional(),
  errors: z.array(z.object({ code: z.number().optional(), title: z.string().optional(), error_data: z.object({ details: z.string().optional() }).optional() })).optional(),
});
const payload = z.object({
  object: z.literal('whatsapp_business_account'),
  entry: z
    .array(
      z.object({
        changes: z
          .array(
            z.object({
              field: z.string(),
              value: z.object({
                metadata: z.object({ phone_number_id: z.string().max(32), display_phone_number: z.string().max(32) }),
                messages: z.array(inboundMessage).max(1000).optional(),
                statuses: z.array(status).max(1000).optional(),
              }),
            }),
          )
          .max(1000),
      }),
    )
    .max(1000),
});
type Change = z.infer<typeof payload>['entry'][number]['changes'][number]['value'];

const STATUSES = { sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed' } as const;

function signedBy(secret: string, raw: Buffer, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** One change of a verified payload: inbound messages become conversation messages, statuses move ours. */
async function apply(deps: AppDeps, carrier: OpenCarrier, change: Change): Promise<void> {
  const orgNumber = normalizePhone(change.metadata.display_phone_number) ?? change.metadata.display_phone_number;
  for (const message of change.messages ?? []) {
    // A photo or document is kept as a reference to Meta's media object, fetched when opened (carriers/media.ts).
    const file = (MEDIA_TYPES as readonly string[]).includes(message.type) ? message[message.type as (typeof MEDIA_TYPES)[number]] : undefined;
    const media: StoredMedia[] = file
      ? [{ url: `${deps.carriers.whatsappGraphUrl}/${WHATSAPP_GRAPH_VERSION}/${file.id}`, contentType: file.mime_type.split(';')[0]!.toLowerCase(), carrierId: carrier.id }]
      : [];
    const text = message.type === 'text' ? (message.text?.body ?? '') : (file?.caption ?? '');
    const body = file || message.type === 'text' ? stripControlCharacters(text) : `(a ${message.type} message, which Tandem does not show yet)`;
    if (!body.trim() && !media.length) continue;
    await receiveInboundMessage(deps, {
      orgId: carrier.orgId,
      channel: 'whatsapp',
      from: `+${message.from.replace(/^\+/, '')}`,
      to: orgNumber,
      body,
      providerSid: message.id,
      media,
    });
  }
  for (const report of change.statuses ?? []) {
    const next = STATUSES[report.status as keyof typeof STATUSES];
    if (!next) continue;
    const error = report.errors?.[0];
    const reason = error ? `WhatsApp ${error.code ?? ''}: ${error.error_data?.details ?? error.title ?? 'failed'}`.replace(' : ', ': ') : undefined;
    const statusReport = { status: next, providerSid: report.id, reason };
    let outcome = report.biz_opaque_callback_data ? await advanceMessageStatus(deps, carrier.orgId, { messageId: report.biz_opaque_callback_data }, statusReport) : 'unknown';
    if (outcome === 'unknown') outcome = await advanceMessageStatus(deps, carrier.orgId, { providerSid: report.id }, statusReport);
  }
}

/**
 * Meta's WhatsApp Cloud API webhook at /webhooks/whatsapp: the GET handshake (echo
 * `hub.challenge` when `hub.verify_token` is a connected number's), and POSTed updates,
 * each change applied only for a number whose app secret signed the raw body
 * (`X-Hub-Signature-256`). Messages are applied once per WhatsApp message id however often
 * Meta retries; an error answers 500 so that Meta retries.
 */
export function createWhatsAppWebhookHandler(deps: AppDeps) {
  const reply = (res: ServerResponse, status: number, body: string, type = 'application/json') => {
    if (!res.headersSent) res.writeHead(status, { 'content-type': type }).end(body);
  };
  let reading = 0;
  return (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    if (pathname !== WHATSAPP_WEBHOOK_PATH) return false;
    void (async () => {
      if (req.method === 'GET') {
        const query = new URL(req.url ?? '', 'http://x').searchParams;
        const token = query.get('hub.verify_token') ?? '';
        const challenge = query.get('hub.challenge') ?? '';
        const known = (await deps.carriers.byKind('whatsapp_cloud')).some((carrier) => {
          const expected = Buffer.from(carrier.verifyToken ?? '');
          return expected.length === Buffer.byteLength(token) && timingSafeEqual(expected, Buffer.from(token));
        });
        if (query.get('hub.mode') !== 'subscribe' || !known || !/^[\w-]{1,128}$/.test(challenge)) return reply(res, 403, JSON.stringify({ error: 'Unknown verify token' }));
        return reply(res, 200, challenge, 'text/plain');
      }
      if (req.method !== 'POST') return reply(res, 405, JSON.stringify({ error: 'Use GET (handshake) or POST' }));
      if (reading >= MAX_READING) throw new WebhookError(503, 'Busy: try again');
      reading += 1;
      let raw: Buffer;
      try {
        raw = await readBody(req, MAX_BODY_BYTES);
      } finally {
        reading -= 1;
      }
      const signature = req.headers['x-hub-signature-256'];
      if (typeof signature !== 'string') throw new WebhookError(403, 'Missing X-Hub-Signature-256');
      let parsed: z.infer<typeof payload>;
      try {
        parsed = payload.parse(JSON.parse(raw.toString('utf8')));
      } catch {
        throw new WebhookError(400, 'Not a WhatsApp Business Account webhook');
      }
      const changes = parsed.entry.flatMap((entry) => entry.changes.filter((change) => change.field === 'messages').map((change) => change.value));
      // Nothing is trusted yet: one query for every number the body names, and a bound on how many.
      const numbers = [...new Set(changes.map((change) => change.metadata.phone_number_id))];
      if (numbers.length > MAX_NUMBERS_PER_BODY) throw new WebhookError(400, `More than ${MAX_NUMBERS_PER_BODY} phone numbers in one webhook`);
      const signers = (await deps.carriers.byAccounts('whatsapp_cloud', numbers)).filter((candidate) => signedBy(candidate.webhookSecret, raw, signature));
      let applied = 0;
      for (const change of changes) {
        const carrier = signers.find((candidate) => candidate.accountRef === change.metadata.phone_number_id);
        if (!carrier) continue;
        await apply(deps, carrier, change);
        applied += 1;
      }
      if (!applied && parsed.entry.some((entry) => entry.changes.length)) throw new WebhookError(403, 'Unknown phone number or bad signature');
      reply(res, 200, JSON.stringify({ ok: true }));
    })().catch((error: unknown) => {
      if (error instanceof WebhookError) return reply(res, error.status, JSON.stringify({ error: error.message }));
      const errorId = randomBytes(6).toString('hex');
      deps.logger.error('whatsapp webhook failed', { errorId, err: error });
      reply(res, 500, JSON.stringify({ error: `Internal error (id ${errorId})` }));
    });
    return true;
  };
}
