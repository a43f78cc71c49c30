import { z } from 'zod';
import type { Alert, AlertKind, Call, CallStatus, Channel, Conversation, ConversationStatus, Message, MessageDirection, MessageStatus } from '../../shared/comms.ts';
import type { Db } from '../db/client.ts';

type Rows = {
  conversation: NonNullable<Awaited<ReturnType<Db['conversation']['findFirst']>>>;
  message: NonNullable<Awaited<ReturnType<Db['message']['findFirst']>>>;
  call: NonNullable<Awaited<ReturnType<Db['call']['findFirst']>>>;
  alert: NonNullable<Awaited<ReturnType<Db['alert']['findFirst']>>>;
};

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function toConversation(row: Rows['conversation']): Conversation {
  return {
    id: row.id,
    orgId: row.orgId,
    version: row.version,
    channel: row.channel as Channel,
    contactName: row.contactName,
    contactPhone: row.contactPhone,
    orgNumber: row.orgNumber,
    clientId: row.clientId,
    leadId: row.leadId,
    status: row.status as ConversationStatus,
    assigneeId: row.assigneeId,
    unreadCount: row.unreadCount,
    lastMessageAt: iso(row.lastMessageAt),
    lastMessagePreview: row.lastMessagePreview,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toMessage(row: Rows['message']): Message {
  return {
    id: row.id,
    conversationId: row.conversationId,
    direction: row.direction as MessageDirection,
    body: row.body,
    status: row.status as MessageStatus,
    authorId: row.authorId,
    createdAt: row.createdAt.toISOString(),
    deliveredAt: iso(row.deliveredAt),
    readAt: iso(row.readAt),
    failedAt: iso(row.failedAt),
    failureReason: row.failureReason,
    media: storedMedia(row.media).map((item, index) => ({
      contentType: item.contentType,
      path: mediaPath(row.id, index),
      ...('name' in item ? { name: item.name, size: item.size } : {}),
    })),
  };
}

/**
 * An attachment as a message row keeps it (a type, not an interface: Prisma's JSON input takes it):
 * - inbound: where the carrier holds it, and which carrier account can fetch it;
 * - outbound: the Upload the agent attached (comms/uploads.ts).
 */
export type StoredMedia = { url: string; contentType: string; carrierId: string } | { uploadId: string; contentType: string; name: string; size: number };

const storedMediaSchema = z.array(
  z.union([
    z.object({ url: z.string(), contentType: z.string(), carrierId: z.string() }),
    z.object({ uploadId: z.string(), contentType: z.string(), name: z.string(), size: z.number() }),
  ]),
);

export function storedMedia(value: unknown): StoredMedia[] {
  const parsed = storedMediaSchema.safeParse(value ?? []);
  return parsed.success ? parsed.data : [];
}

/** Where the server serves a message's attachment (carriers/media.ts). */
export const mediaPath = (messageId: string, index: number) => `/media/${encodeURIComponent(messageId)}/${index}`;

export function toCall(row: Rows['call']): Call {
  return {
    id: row.id,
    orgId: row.orgId,
    version: row.version,
    fromNumber: row.fromNumber,
    toNumber: row.toNumber,
    status: row.status as CallStatus,
    clientId: row.clientId,
    answeredById: row.answeredById,
    ringUntil: row.ringUntil.toISOString(),
    answeredAt: iso(row.answeredAt),
    createdAt: row.createdAt.toISOString(),
  };
}

export function toAlert(row: Rows['alert']): Alert {
  return {
    id: row.id,
    kind: row.kind as AlertKind,
    title: row.title,
    body: row.body,
    module: row.module,
    recordId: row.recordId,
    createdAt: row.createdAt.toISOString(),
  };
}
