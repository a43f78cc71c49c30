import type { CarrierChannel, CarrierKind } from '../../shared/carriers.ts';

/** One message on its way out, as the outbox hands it to a carrier. */
export interface OutboundMessage {
  /** Ours: the status callback names it, so a report can settle an attempt whose answer was lost. */
  messageId: string;
  channel: CarrierChannel;
  /** E.164. */
  to: string;
  /** The org's number (E.164); null: the carrier account's default sender. */
  from: string | null;
  /** May be empty when files are attached. */
  body: string;
  /** Attached files, each at a public link the carrier fetches (comms/upload-doors.ts). */
  media: OutboundFile[];
  /** Where the carrier reports delivery; null when the server has no PUBLIC_URL. */
  statusCallbackUrl: string | null;
}

/**
 * What came of one attempt:
 * - `sent`: the carrier took it, under `providerId`;
 * - `rejected`: the carrier refused it for good (a bad number, bad credentials): do not retry;
 * - `retryable`: the carrier certainly did not take it (refused connection, 429): try again later;
 * - `unknown`: it may have taken it (a timeout, a reset, a 5xx after the request was sent).
 */
export type SendOutcome = { outcome: 'sent'; providerId: string } | { outcome: 'rejected' | 'retryable' | 'unknown'; reason: string; retryAfterMs?: number | undefined };

export interface Carrier {
  readonly kind: CarrierKind;
  send(message: OutboundMessage): Promise<SendOutcome>;
}

export interface OutboundFile {
  url: string;
  contentType: string;
  name: string;
}
