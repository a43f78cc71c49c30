import type { Channel, Conversation, MessageStatus } from '../../../shared/comms.ts';

export const channelLabel: Record<Channel, string> = { sms: 'SMS', chat: 'Chat', whatsapp: 'WhatsApp' };

/** Who a conversation is with: the contact's name, else their number, else the channel. */
export function contactOf(conversation: Pick<Conversation, 'contactName' | 'contactPhone' | 'channel'>): string {
  return conversation.contactName || conversation.contactPhone || `${channelLabel[conversation.channel]} visitor`;
}

const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const dayAndMonth = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** A list's time column: the time today, the day this year, the date before. */
export function formatShortTime(iso: string | null, now = new Date()): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  if (date.toDateString() === now.toDateString()) return timeOnly.format(date);
  if (date.getFullYear() === now.getFullYear()) return dayAndMonth.format(date);
  return fullDate.format(date);
}

/** How a delivery status reads to people. */
export const statusLabel: Record<MessageStatus, string> = { queued: 'Sending', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not delivered' };
