import { z } from 'zod';
import { stripControlCharacters } from './text.ts';

/**
 * Files an agent attaches to a reply. The browser uploads each one first
 * (`POST /uploads?name=<file name>`, the file as the body, its type as `Content-Type`,
 * the bearer token), then names the answers' ids in `messages.send({ attachments })`.
 */

/** Twilio takes 5 MB per MMS and WhatsApp 5 MB per image: larger files would fail at the carrier. */
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;
/** Twilio's limit per message; WhatsApp takes one file per message. */
export const MAX_ATTACHMENTS = 10;
export const MAX_WHATSAPP_ATTACHMENTS = 1;
/** WhatsApp's caption limit: the text that goes with a file. */
export const MAX_WHATSAPP_CAPTION = 1024;

/** What the carriers take; anything else is refused at upload (415). */
export const UPLOAD_TYPES = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'application/pdf',
  'text/plain',
  'text/csv',
  'text/vcard',
  'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
] as const;
export type UploadType = (typeof UPLOAD_TYPES)[number];

/** Shown in the page (an <img>); anything else is a download. */
export const INLINE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** `POST /uploads`'s answer. */
export interface UploadedFile {
  id: string;
  name: string;
  contentType: UploadType;
  size: number;
}

/**
 * A file's name as people see it: no folders, no control characters, at most 200 characters;
 * an empty one becomes `attachment`.
 */
export function uploadName(value: string): string {
  const base = stripControlCharacters(value)
    .replace(/[\t\r\n]+/g, ' ')
    .split(/[\\/]/)
    .pop()!
    .replace(/["<>|:*?]/g, '')
    .trim()
    .slice(0, 200);
  return base || 'attachment';
}

/** The `Content-Type` header's media type, if it is one the carriers take. */
export function uploadType(header: string | undefined): UploadType | null {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return (UPLOAD_TYPES as readonly string[]).includes(type ?? '') ? (type as UploadType) : null;
}

export const attachmentsSchema = z.array(z.string().regex(/^[a-z0-9]{1,64}$/, 'not an upload id')).max(MAX_ATTACHMENTS, `At most ${MAX_ATTACHMENTS} files per message`);
