import type { Carrier, OutboundMessage, SendOutcome } from './types.ts';

/** Where the Graph API is: `WHATSAPP_GRAPH_URL` replaces it (the tests' stand-in). */
export const WHATSAPP_GRAPH_URL = 'https://graph.facebook.com';
export const WHATSAPP_GRAPH_VERSION = 'v21.0';

export interface WhatsAppCloudCredentials {
  phoneNumberId: string;
  accessToken: string;
  appSecret: string;
  verifyToken: string;
}

export interface WhatsAppCloudOptions {
  graphUrl?: string | undefined;
  timeoutMs: number;
}

/** Meta's codes that mean "slow down": the message was not taken. */
const THROTTLED = new Set([4, 80007, 130429, 131056]);
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

interface GraphError {
  error?: { message?: string; code?: number; error_subcode?: number; error_data?: { details?: string } };
}

/** The Graph API's answer (or the lack of one) as an outcome; see `SendOutcome`. */
export function classifyGraphAnswer(status: number, body: GraphError): Exclude<SendOutcome, { outcome: 'sent' }> {
  const code = body.error?.code;
  const reason = `WhatsApp ${code ?? status}: ${body.error?.error_data?.details ?? body.error?.message ?? `HTTP ${status}`}`;
  if (status === 429 || (code !== undefined && THROTTLED.has(code))) return { outcome: 'retryable', reason };
  if (status >= 500) return { outcome: 'unknown', reason };
  return { outcome: 'rejected', reason };
}

function classifyFetchError(error: unknown): Exclude<SendOutcome, { outcome: 'sent' }> {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof code === 'string' && NOT_SENT.has(code)) return { outcome: 'retryable', reason: `WhatsApp unreachable: ${code}` };
  const name = (error as { name?: string } | null)?.name;
  return { outcome: 'unknown', reason: `No answer from WhatsApp: ${name === 'TimeoutError' ? 'timed out' : String((error as Error)?.message ?? error)}` };
}

/** Photos (JPEG, PNG) go as images, any other file as a document under its name; the text is its caption. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png']);

function content(message: OutboundMessage): Record<string, unknown> {
  const file = message.media[0];
  if (!file) return { type: 'text', text: { body: message.body, preview_url: false } };
  const caption = message.body ? { caption: message.body } : {};
  if (IMAGE_TYPES.has(file.contentType)) return { type: 'image', image: { link: file.url, ...caption } };
  return { type: 'document', document: { link: file.url, filename: file.name, ...caption } };
}

/**
 * Messages out through one WhatsApp Business phone number of Meta's Cloud API: plain HTTPS
 * JSON, so `fetch` is the client. `biz_opaque_callback_data` carries our message id, and
 * Meta echoes it in every status webhook of the message: that is what settles an attempt
 * whose answer was lost (carriers/outbox.ts).
 */
export function whatsappCloudCarrier(credentials: WhatsAppCloudCredentials, options: WhatsAppCloudOptions): Carrier {
  const endpoint = `${(options.graphUrl ?? WHATSAPP_GRAPH_URL).replace(/\/+$/, '')}/${WHATSAPP_GRAPH_VERSION}/${credentials.phoneNumberId}/messages`;
  return {
    kind: 'whatsapp_cloud',
    async send(message) {
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${credentials.accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            messaging_product: 'whatsapp',
            recipient_type: 'individual',
            to: message.to.replace(/^\+/, ''),
            ...content(message),
            biz_opaque_callback_data: message.messageId,
          }),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        return classifyFetchError(error);
      }
      const body = (await response.json().catch(() => ({}))) as GraphError & { messages?: { id?: unknown }[] };
      const id = body.messages?.[0]?.id;
      if (response.ok && typeof id === 'string') return { outcome: 'sent', providerId: id };
      return classifyGraphAnswer(response.status, body);
    },
  };
}
