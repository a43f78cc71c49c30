import { expect, vi } from 'vitest';
import type { createHttpClient } from '../../src/client/trpc.ts';
import type { TwilioStandIn } from './twilio-standin.ts';

export interface QueuedReply {
  id: string;
  conversationId: string;
  body: string;
}

/**
 * What the outbox's crash tests end on: every reply reaches Twilio (the stand-in), each ends
 * `delivered` as the server (`client`) tells it, exactly one copy of each was sent, and
 * nothing more reaches Twilio once all are settled.
 */
export async function expectEachDeliveredOnce(standIn: TwilioStandIn, client: ReturnType<typeof createHttpClient>, replies: readonly QueuedReply[]): Promise<void> {
  const copies = (body: string) => standIn.messages.filter((message) => message.body === body).length;
  await vi.waitFor(() => expect(replies.filter((reply) => copies(reply.body) === 0)).toEqual([]), { timeout: 30_000, interval: 50 });
  await vi.waitFor(
    async () => {
      const statuses = await Promise.all(
        replies.map(async (reply) => (await client.messages.list.query({ conversationId: reply.conversationId })).items.find((item) => item.id === reply.id)?.status),
      );
      expect(statuses.filter((status) => status !== 'delivered')).toEqual([]);
    },
    { timeout: 30_000, interval: 100 },
  );
  expect(replies.map((reply) => copies(reply.body))).toEqual(replies.map(() => 1));
  expect(standIn.messages).toHaveLength(replies.length);
}
