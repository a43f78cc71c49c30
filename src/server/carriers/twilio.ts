import twilio from 'twilio';
import type { Carrier, OutboundMessage, SendOutcome } from './types.ts';
import { createTwilioClient, type TwilioClientOptions } from './twilio-client.ts';

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
}

/** Errors of the HTTP layer that prove the request never reached Twilio. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_TLS_CERT_ALTNAME_INVALID']);

/** Twilio's answer (or the lack of one) as an outcome; see `SendOutcome`. */
export function classifyTwilioError(error: unknown): Exclude<SendOutcome, { outcome: 'sent' }> {
  if (error instanceof twilio.RestException) {
    const reason = `Twilio ${error.code ?? error.status}: ${error.message}`;
    if (error.status === 429) return { outcome: 'retryable', reason };
    if (error.status >= 500) return { outcome: 'unknown', reason };
    return { outcome: 'rejected', reason };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && NOT_SENT.has(code)) return { outcome: 'retryable', reason: `Twilio unreachable: ${code}` };
  return { outcome: 'unknown', reason: `No answer from Twilio: ${typeof code === 'string' ? code : message}` };
}

/** Messages out through one Twilio account (SMS, and WhatsApp through Twilio). */
export function twilioCarrier(credentials: TwilioCredentials, options: TwilioClientOptions): Carrier {
  const client = createTwilioClient(credentials, options);
  const address = (channel: OutboundMessage['channel'], number: string) => (channel === 'whatsapp' ? `whatsapp:${number}` : number);
  return {
    kind: 'twilio',
    async send(message) {
      try {
        const sent = await client.messages.create({
          to: address(message.channel, message.to),
          // Twilio takes a message with files and no text, but not an empty Body beside them.
          ...(message.body ? { body: message.body } : {}),
          ...(message.media.length ? { mediaUrl: message.media.map((file) => file.url) } : {}),
          ...(message.from ? { from: address(message.channel, message.from) } : {}),
          ...(message.statusCallbackUrl ? { statusCallback: message.statusCallbackUrl } : {}),
        });
        return { outcome: 'sent', providerId: sent.sid };
      } catch (error) {
        return classifyTwilioError(error);
      }
    },
  };
}

/** Twilio's MessageStatus values, mapped onto ours; `undefined` for one that says nothing new (`scheduled`). */
export function twilioMessageStatus(value: string): 'sent' | 'delivered' | 'read' | 'failed' | undefined {
  switch (value.toLowerCase()) {
    case 'queued':
    case 'accepted':
    case 'sending':
    case 'sent':
      return 'sent';
    case 'delivered':
      return 'delivered';
    case 'read':
      return 'read';
    case 'failed':
    case 'undelivered':
    case 'canceled':
      return 'failed';
    default:
      return undefined;
  }
}
