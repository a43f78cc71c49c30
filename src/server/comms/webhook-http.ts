import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { Channel } from '../../shared/comms.ts';
import { stripControlCharacters } from '../../shared/text.ts';
import type { AppDeps } from '../context.ts';
import { normalizePhone } from './phone.ts';

/** What the webhook doors share: reading and checking a carrier's form post. */

export interface WebhookOptions {
  /** An incoming call not answered within this is missed. */
  ringTimeoutMs: number;
}

const MAX_BODY_BYTES = 64 * 1024;

/** A refusal with its HTTP status; it changes nothing. */
export class WebhookError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const sid = z.string().regex(/^[A-Za-z0-9]{10,64}$/, 'must be 10–64 letters and digits');
/** `+15551234567`, or `whatsapp:+15551234567` (the channel comes from the prefix). */
export const address = z.string().trim().min(3).max(48);

/**
 * A carrier relays what the customer typed, control characters included (PostgreSQL cannot
 * store NUL). Refusing the request would lose the customer's message, so they are dropped and
 * the text is kept; tabs and line breaks stay.
 */
export const messageBody = z.string().max(1600).transform(stripControlCharacters);

export function parseAddress(value: string, field: string): { number: string; channel: Channel } {
  const whatsapp = value.startsWith('whatsapp:');
  const number = normalizePhone(whatsapp ? value.slice('whatsapp:'.length) : value);
  if (!number) throw new WebhookError(400, `${field}: not a phone number`);
  return { number, channel: whatsapp ? 'whatsapp' : 'sms' };
}

export async function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new WebhookError(413, 'Body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function parseForm<T>(schema: z.ZodType<T>, raw: Buffer): T {
  const fields = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  const parsed = schema.safeParse(fields);
  if (!parsed.success) {
    throw new WebhookError(400, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}

/** A route's answer: JSON, or XML (TwiML) for a carrier that reads instructions from it. */
export type WebhookReply = { status: number; body: object } | { status: number; xml: string };

export type WebhookRoute = (deps: AppDeps, req: IncomingMessage, raw: Buffer, options: WebhookOptions) => Promise<WebhookReply>;
