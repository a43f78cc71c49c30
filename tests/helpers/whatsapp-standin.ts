import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CloudMessage {
  /** The wamid the send answered with, and every status webhook of the message carries. */
  id: string;
  phoneNumberId: string;
  /** Digits, no `+` (the recipient's wa_id). */
  to: string;
  type: string;
  /** `text.body`, or a file's caption ('' without one). */
  body: string;
  /**
   * An image or document sent by link: as Meta does, the stand-in fetches the link (no
   * credentials) once it has accepted the message; `fetched` settles with what it got.
   */
  media: { link: string; filename: string | null; fetched: Promise<{ status: number; contentType: string | null; bytes: Buffer }> } | null;
  bizOpaqueCallbackData: string | null;
  receivedAt: number;
}

export type CloudFault =
  /** Answer with the Graph API's error JSON; the message is not accepted. */
  | { kind: 'status'; status: number; code: number; message: string; subcode?: number }
  /** Never answer and record nothing: the client times out not knowing. */
  | { kind: 'hang-before-accept' }
  /** Accept the message (and send its status webhooks) but never answer the HTTP request. */
  | { kind: 'hang-after-accept' };

export interface WhatsAppStandIn {
  /** e.g. http://127.0.0.1:PORT, serving /v21.0/... (any /vNN.N/ version prefix). */
  url: string;
  /** Accepted sends, in order. */
  messages: CloudMessage[];
  /** Every POST to /{phone-number-id}/messages received, accepted or not. */
  sendRequests: number;
  /** The next `count` sends get this fault (faults queue up in order). */
  failNext(count: number, fault: CloudFault): void;
  /** Statuses pushed to the webhook after each accepted send, in order, `webhookDelayMs` apart. Default ['sent', 'delivered']. */
  setStatuses(statuses: string[]): void;
  /** Where status webhooks for accepted sends go (the app's one webhook URL); unset: none are sent. */
  setWebhook(url: string | null): void;
  /** Each webhook POST that got an HTTP answer (retried ones appear once per answer). */
  webhooksDelivered: { body: unknown; status: number }[];
  /** POSTs a webhook payload (JSON) to `url`, signed with X-Hub-Signature-256 under the app secret; returns status and text. */
  postSigned(url: string, payload: unknown): Promise<{ status: number; body: string }>;
  /** Builds the payload Meta sends for an inbound text message from `from` (digits) to the phone number id, with the contact's profile name (`timestamp` in unix seconds). */
  inboundText(phoneNumberId: string, from: string, body: string, options?: { id?: string; name?: string; timestamp?: number }): unknown;
  /**
   * Keeps a file as Meta keeps a customer's photo or document; returns its media id. As the
   * Cloud API does, GET /vNN.N/{media-id} (Bearer) answers its download URL, which answers
   * the bytes to the same Bearer token.
   */
  addMedia(mimeType: string, bytes: Buffer): string;
  /** Builds the payload of an inbound image or document message carrying media `mediaId`. */
  inboundMedia(phoneNumberId: string, from: string, kind: 'image' | 'document', mediaId: string, mimeType: string, caption?: string): unknown;
  /** GETs of media objects and downloads, authorized or not. */
  mediaRequests: number;
  close(): Promise<void>;
}

/** The example WhatsApp Business Account id of Meta's docs: the stand-in serves one account. */
const WABA_ID = '102290129340398';

/** Meta's webhook signature: 'sha256=' + hex HMAC-SHA256 of the raw body under the app secret. */
export function hubSignature(appSecret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/**
 * Meta serializes webhooks as PHP's json_encode does (`/` as `\/`, non-ASCII as lowercase `\uXXXX`)
 * and signs those bytes: a receiver that checks a re-serialized body instead of the raw one fails here as in production.
 */
const metaJson = (payload: unknown) =>
  JSON.stringify(payload)
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replaceAll('/', '\\/');

/** Shaped like Meta's: base64 of a Thrift-like record holding the number and a hex id, hence the `HBg` every real wamid starts with. */
const newWamid = (digits: string) => {
  const record = `\x1c\x18${String.fromCharCode(digits.length)}${digits}\x15\x02\x00\x11\x18\x12${randomBytes(9).toString('hex').toUpperCase()}\x00`;
  return `wamid.${Buffer.from(record, 'latin1').toString('base64')}`;
};

/** What a `failed` status carries: the usual cause, a recipient WhatsApp cannot reach. */
const UNDELIVERABLE = {
  code: 131026,
  title: 'Message undeliverable',
  message: 'Message undeliverable',
  error_data: { details: 'Message failed to send because the recipient is not reachable on WhatsApp.' },
};

const unixSeconds = (ms = Date.now()) => String(Math.floor(ms / 1000));

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

/** The Graph API's error body; the Cloud API's own errors add `error_data.details`. */
function sendGraphError(res: ServerResponse, status: number, error: { message: string; code: number; type?: string; subcode?: number; details?: string }) {
  sendJson(res, status, {
    error: {
      message: error.message,
      type: error.type ?? 'OAuthException',
      code: error.code,
      ...(error.subcode === undefined ? {} : { error_subcode: error.subcode }),
      ...(error.details === undefined ? {} : { error_data: { messaging_product: 'whatsapp', details: error.details } }),
      fbtrace_id: `A${randomBytes(16).toString('base64url').slice(0, 22)}`,
    },
  });
}

/** The body as the Graph API reads it: JSON only when sent as JSON; anything else lacks every parameter. */
async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * A local WhatsApp Cloud API (send message) and webhook sender on a random loopback port, so the
 * server under test talks to it with plain `fetch` as to graph.facebook.com, and tests can inject
 * the failures that matter to a sender: Graph errors, lost answers after acceptance, late or refused webhooks.
 */
export async function startWhatsAppStandIn(options: {
  /** Phone number id -> access token. */
  phoneNumbers: Record<string, string>;
  appSecret: string;
  /** Digits, as Meta writes it in webhook metadata. */
  displayPhoneNumber?: string;
  webhookDelayMs?: number;
  webhookRetries?: number;
  webhookRetryDelayMs?: number;
}): Promise<WhatsAppStandIn> {
  const { phoneNumbers, appSecret, displayPhoneNumber = '15551234567', webhookDelayMs = 20, webhookRetries = 20, webhookRetryDelayMs = 250 } = options;
  const faults: CloudFault[] = [];
  let statuses = ['sent', 'delivered'];
  let webhookUrl: string | null = null;
  const stopped = new AbortController();
  const signal = stopped.signal;
  const timelines = new Set<Promise<void>>();

  // Meta sends the SHA-1 signature beside the SHA-256 one; receivers should check the latter.
  const post = (url: string, raw: string, abort?: AbortSignal) =>
    fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'facebookexternalua',
        'X-Hub-Signature': `sha1=${createHmac('sha1', appSecret).update(raw).digest('hex')}`,
        'X-Hub-Signature-256': hubSignature(appSecret, raw),
      },
      body: raw,
      signal: abort,
    });

  // Meta writes `value` before `field`; key order matters only to whoever hashes the bytes, which is the point.
  const envelope = (phoneNumberId: string, value: Record<string, unknown>) => {
    const metadata = { display_phone_number: displayPhoneNumber, phone_number_id: phoneNumberId };
    return { object: 'whatsapp_business_account', entry: [{ id: WABA_ID, changes: [{ value: { messaging_product: 'whatsapp', metadata, ...value }, field: 'messages' }] }] };
  };

  const statusPayload = (m: CloudMessage, status: string) =>
    envelope(m.phoneNumberId, {
      statuses: [
        {
          id: m.id,
          status,
          timestamp: unixSeconds(),
          recipient_id: m.to,
          ...(m.bizOpaqueCallbackData === null ? {} : { biz_opaque_callback_data: m.bizOpaqueCallbackData }),
          ...(status === 'failed' ? { errors: [UNDELIVERABLE] } : {}),
        },
      ],
    });

  /** Posts one webhook, retrying connection errors and 5xx as Meta retries a failing endpoint. */
  const deliver = async (payload: unknown) => {
    const raw = metaJson(payload);
    for (let attempt = 0; attempt <= webhookRetries; attempt++) {
      if (attempt > 0) await sleep(webhookRetryDelayMs, undefined, { signal });
      // Read each time: a webhook moved or removed meanwhile goes where the app now says.
      if (!webhookUrl) return;
      try {
        const response = await post(webhookUrl, raw, signal);
        await response.arrayBuffer();
        standIn.webhooksDelivered.push({ body: payload, status: response.status });
        if (response.status < 500) return;
      } catch (error) {
        if (signal.aborted) throw error;
      }
    }
  };

  /** The message's life after acceptance: one status after another, each waiting for the previous one's delivery. */
  const runTimeline = async (m: CloudMessage, ahead: string[]) => {
    for (const status of ahead) {
      await sleep(webhookDelayMs, undefined, { signal });
      await deliver(statusPayload(m, status));
    }
  };

  const handleSend = async (req: IncomingMessage, res: ServerResponse, phoneNumberId: string) => {
    standIn.sendRequests++;
    // A fault is taken by the next send whatever it holds: it models Meta's edge failing, ahead of auth and validation.
    const fault = faults.shift();
    const body = await readJsonBody(req);
    if (fault?.kind === 'status') return sendGraphError(res, fault.status, fault);
    if (fault?.kind === 'hang-before-accept') return;
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !Object.values(phoneNumbers).includes(token)) return sendGraphError(res, 401, { message: 'Invalid OAuth access token - Cannot parse access token', code: 190 });
    // A valid token without rights on the object gets what an unknown id gets, as on the Graph API.
    if (!Object.hasOwn(phoneNumbers, phoneNumberId) || phoneNumbers[phoneNumberId] !== token) {
      const message = `Unsupported post request. Object with ID '${phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`;
      return sendGraphError(res, 400, { message, type: 'GraphMethodException', code: 100, subcode: 33 });
    }
    if (body.messaging_product !== 'whatsapp') return sendGraphError(res, 400, { message: '(#100) The parameter messaging_product is required.', code: 100 });
    const to = body.to;
    if (typeof to !== 'string' || !/^\+?\d{8,15}$/.test(to)) {
      return sendGraphError(res, 400, { message: '(#131009) Parameter value is not valid', code: 131009, details: `Invalid 'to' parameter: ${String(to)}` });
    }
    // `type` defaults to text on the Cloud API.
    const type = typeof body.type === 'string' ? body.type : 'text';
    const text = (body.text ?? {}) as { body?: unknown };
    if (type === 'text' && (typeof text.body !== 'string' || text.body === ''))
      return sendGraphError(res, 400, { message: "(#100) The parameter text['body'] is required.", code: 100 });
    const file = type === 'image' || type === 'document' ? ((body[type] ?? {}) as { link?: unknown; id?: unknown; filename?: unknown; caption?: unknown }) : null;
    if (file && typeof file.link !== 'string' && typeof file.id !== 'string') {
      return sendGraphError(res, 400, { message: `(#100) Param ${type}['link'] or ${type}['id'] is required`, code: 100 });
    }
    const digits = to.replace(/^\+/, '');
    const link = typeof file?.link === 'string' ? file.link : null;
    const m: CloudMessage = {
      id: newWamid(digits),
      phoneNumberId,
      to: digits,
      type,
      body: type === 'text' ? (text.body as string) : typeof file?.caption === 'string' ? file.caption : '',
      media: link
        ? {
            link,
            filename: typeof file?.filename === 'string' ? file.filename : null,
            fetched: fetch(link)
              .then(async (answer) => ({ status: answer.status, contentType: answer.headers.get('content-type'), bytes: Buffer.from(await answer.arrayBuffer()) }))
              .catch(() => ({ status: 0, contentType: null, bytes: Buffer.alloc(0) })),
          }
        : null,
      bizOpaqueCallbackData: typeof body.biz_opaque_callback_data === 'string' ? body.biz_opaque_callback_data : null,
      receivedAt: Date.now(),
    };
    standIn.messages.push(m);
    // Ends quietly on close(); a webhook that never got through is the test's to notice.
    const timeline = runTimeline(m, [...statuses]).catch(() => {});
    timelines.add(timeline);
    void timeline.finally(() => timelines.delete(timeline));
    if (fault?.kind === 'hang-after-accept') return;
    sendJson(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: digits }], messages: [{ id: m.id }] });
  };

  const media = new Map<string, { mimeType: string; bytes: Buffer }>();
  const knownToken = (req: IncomingMessage) => Object.values(phoneNumbers).includes(/^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    const medium = path.match(/^\/v\d+\.\d+\/(\d{6,})$/) ?? path.match(/^\/download\/(\d{6,})$/);
    if (medium && req.method === 'GET') {
      standIn.mediaRequests++;
      if (!knownToken(req)) return sendGraphError(res, 401, { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190 });
      // A phone number's own object: what a client fetches to check its token.
      if (!path.startsWith('/download/') && phoneNumbers[medium[1]!] !== undefined) {
        if (phoneNumbers[medium[1]!] !== /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1]) {
          return sendGraphError(res, 400, { message: `Unsupported get request. Object with ID '${medium[1]}' does not exist`, type: 'GraphMethodException', code: 100 });
        }
        return sendJson(res, 200, { display_phone_number: displayPhoneNumber, verified_name: 'Stand-in Business', id: medium[1] });
      }
      const file = media.get(medium[1]!);
      if (file && path.startsWith('/download/')) {
        res.writeHead(200, { 'Content-Type': file.mimeType, 'Content-Length': String(file.bytes.length) });
        res.end(file.bytes);
        return;
      }
      if (file) {
        return sendJson(res, 200, {
          url: `${standIn.url}/download/${medium[1]}`,
          mime_type: file.mimeType,
          file_size: file.bytes.length,
          id: medium[1],
          messaging_product: 'whatsapp',
        });
      }
    }
    const send = path.match(/^\/v\d+\.\d+\/([^/]+)\/messages$/);
    if (send && req.method === 'POST') {
      handleSend(req, res, send[1]!).catch(() => res.destroy());
      return;
    }
    sendGraphError(res, 400, { message: `Unknown path components: ${path}`, code: 2500 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const standIn: WhatsAppStandIn = {
    url: `http://127.0.0.1:${port}`,
    messages: [],
    sendRequests: 0,
    failNext(count, fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    setStatuses(next) {
      statuses = [...next];
    },
    setWebhook(url) {
      webhookUrl = url;
    },
    webhooksDelivered: [],
    mediaRequests: 0,
    addMedia(mimeType, bytes) {
      const id = String(1_000_000_000_000 + media.size + Math.floor(Math.random() * 1_000_000));
      media.set(id, { mimeType, bytes });
      return id;
    },
    inboundMedia(phoneNumberId, from, kind, mediaId, mimeType, caption) {
      return envelope(phoneNumberId, {
        contacts: [{ profile: { name: 'Stand-in Contact' }, wa_id: from }],
        messages: [{ from, id: newWamid(from), timestamp: String(unixSeconds()), type: kind, [kind]: { id: mediaId, mime_type: mimeType, ...(caption ? { caption } : {}) } }],
      });
    },
    async postSigned(url, payload) {
      const response = await post(url, metaJson(payload));
      return { status: response.status, body: await response.text() };
    },
    inboundText(phoneNumberId, from, body, inbound = {}) {
      return envelope(phoneNumberId, {
        contacts: [{ profile: { name: inbound.name ?? 'Stand-in Contact' }, wa_id: from }],
        messages: [{ from, id: inbound.id ?? newWamid(from), timestamp: String(inbound.timestamp ?? unixSeconds()), type: 'text', text: { body } }],
      });
    },
    async close() {
      stopped.abort();
      await Promise.all(timelines);
      // Hung requests and the client's keep-alive sockets would hold server.close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return standIn;
}
