import { randomBytes, timingSafeEqual } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { MAX_WHATSAPP_ATTACHMENTS, MAX_WHATSAPP_CAPTION, type UploadedFile, type UploadType } from '../../shared/uploads.ts';
import type { Db } from '../db/client.ts';
import type { Tx } from '../db/client.ts';
import type { StoredMedia } from './wire.ts';

/**
 * Files agents attach to replies. They are kept in the database, beside the message that
 * carries them: every node can serve them, and a backup holds them with the conversation.
 */

/** Files uploaded but not yet sent, per org: the rest wait (a bound on what one org can park). */
export const MAX_UNSENT_UPLOADS_PER_ORG = 50;
/** All the files of one org together, sent or not: past it, uploads are refused (a bound on the disk one org can take). */
export const DEFAULT_ORG_FILES_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** An upload never sent is deleted after this. */
export const UNSENT_UPLOAD_TTL_MS = 24 * 3_600_000;
/** How long after it is sent the carrier may fetch a file from its public link. */
export const UPLOAD_LINK_TTL_MS = 7 * 24 * 3_600_000;

export class UploadRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function createUpload(
  db: Db,
  user: { id: string; orgId: string },
  file: { name: string; contentType: UploadType; data: Buffer },
  quotaBytes = DEFAULT_ORG_FILES_QUOTA_BYTES,
): Promise<UploadedFile> {
  const unsent = await db.upload.count({ where: { orgId: user.orgId, messageId: null } });
  if (unsent >= MAX_UNSENT_UPLOADS_PER_ORG) {
    throw new UploadRefused(429, `Your team has ${unsent} files uploaded and not sent: send or remove some, or wait a day for them to be cleared`);
  }
  const used = (await db.upload.aggregate({ where: { orgId: user.orgId }, _sum: { size: true } }))._sum.size ?? 0;
  if (used + file.data.length > quotaBytes) {
    const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;
    throw new UploadRefused(413, `Your team's files take ${mb(used)} of the ${mb(quotaBytes)} it may keep: ask the operator for more (ORG_FILES_QUOTA_MB)`);
  }
  const row = await db.upload.create({
    data: {
      orgId: user.orgId,
      userId: user.id,
      name: file.name,
      contentType: file.contentType,
      size: file.data.length,
      data: file.data as Uint8Array<ArrayBuffer>,
      secret: randomBytes(32).toString('base64url'),
    },
    select: { id: true, name: true, contentType: true, size: true },
  });
  return { ...row, contentType: row.contentType as UploadType };
}

/** The uploader takes back a file not yet sent. */
export async function deleteUpload(db: Db, user: { id: string; orgId: string }, id: string): Promise<boolean> {
  return (await db.upload.deleteMany({ where: { id, orgId: user.orgId, userId: user.id, messageId: null } })).count === 1;
}

/**
 * Inside the transaction that writes message `messageId`: the agent's own unsent uploads
 * `ids` become its attachments, in that order. An id that is not one (another org's,
 * another agent's, one already sent) refuses the whole message.
 */
export async function attachUploads(
  tx: Tx,
  actor: { userId: string; orgId: string },
  ids: readonly string[],
  channel: string,
  body: string,
): Promise<{ media: StoredMedia[]; attach(messageId: string, at: Date): Promise<void> }> {
  if (!ids.length) return { media: [], attach: async () => {} };
  if (new Set(ids).size !== ids.length) throw new TRPCError({ code: 'BAD_REQUEST', message: 'attachments: The same file is attached twice' });
  if (channel === 'whatsapp' && ids.length > MAX_WHATSAPP_ATTACHMENTS) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: `attachments: WhatsApp takes ${MAX_WHATSAPP_ATTACHMENTS} file per message: send them one by one` });
  }
  if (channel === 'whatsapp' && body.length > MAX_WHATSAPP_CAPTION) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: `body: WhatsApp takes at most ${MAX_WHATSAPP_CAPTION} characters with a file` });
  }
  const rows = await tx.upload.findMany({
    where: { id: { in: [...ids] }, orgId: actor.orgId, userId: actor.userId, messageId: null },
    select: { id: true, contentType: true, name: true, size: true },
  });
  const byId = new Map(rows.map((row) => [row.id, row]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length) throw new TRPCError({ code: 'BAD_REQUEST', message: `attachments: No file of yours waiting to be sent with id ${missing.join(', ')}` });
  return {
    media: ids.map((id) => {
      const row = byId.get(id)!;
      return { uploadId: row.id, contentType: row.contentType, name: row.name, size: row.size };
    }),
    async attach(messageId, at) {
      const { count } = await tx.upload.updateMany({ where: { id: { in: [...ids] }, orgId: actor.orgId, messageId: null }, data: { messageId, attachedAt: at } });
      // Another send took one of them between the read and here: this one is refused whole.
      if (count !== ids.length) throw new TRPCError({ code: 'CONFLICT', message: 'attachments: A file was sent with another message meanwhile' });
    },
  };
}

/** The public links of a message's attached files, for the carrier to fetch: `/files/<id>/<secret>`. */
export async function uploadLinks(db: Db, orgId: string, ids: readonly string[], publicUrl: string): Promise<Map<string, string>> {
  const rows = await db.upload.findMany({ where: { id: { in: [...ids] }, orgId }, select: { id: true, secret: true } });
  return new Map(rows.map((row) => [row.id, `${publicUrl}${filePath(row.id, row.secret)}`]));
}

export const filePath = (id: string, secret: string) => `/files/${encodeURIComponent(id)}/${secret}`;

/** A sent file, for whoever holds its link (the carrier), within `UPLOAD_LINK_TTL_MS` of sending. */
export async function publicFile(db: Db, id: string, secret: string, now = new Date()): Promise<{ name: string; contentType: string; data: Uint8Array } | null> {
  const row = await db.upload.findUnique({ where: { id }, select: { secret: true, attachedAt: true } });
  if (!row?.attachedAt || now.getTime() - row.attachedAt.getTime() > UPLOAD_LINK_TTL_MS) return null;
  const given = Buffer.from(secret);
  const kept = Buffer.from(row.secret);
  if (given.length !== kept.length || !timingSafeEqual(given, kept)) return null;
  return db.upload.findUnique({ where: { id }, select: { name: true, contentType: true, data: true } });
}

/** An attached file, for a signed-in user of the message's org (carriers/media.ts). */
export function attachedFile(db: Db, orgId: string, id: string): Promise<{ name: string; contentType: string; data: Uint8Array } | null> {
  return db.upload.findFirst({ where: { id, orgId }, select: { name: true, contentType: true, data: true } });
}

/** Deletes uploads never sent within `UNSENT_UPLOAD_TTL_MS`. */
export async function pruneUnsentUploads(db: Db, now = new Date()): Promise<number> {
  return (await db.upload.deleteMany({ where: { messageId: null, createdAt: { lt: new Date(now.getTime() - UNSENT_UPLOAD_TTL_MS) } } })).count;
}
