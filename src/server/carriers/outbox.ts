import type { AppDeps } from '../context.ts';
import { advanceMessageStatus } from '../comms/conversations.ts';
import { uploadLinks } from '../comms/uploads.ts';
import { storedMedia } from '../comms/wire.ts';
import type { Carriers } from './service.ts';
import { WEBHOOK_PATHS } from './service.ts';
import type { OutboundFile, SendOutcome } from './types.ts';

export interface OutboxOptions {
  /** How often each node looks for messages due (another node's, or retries); its own it sends at once. */
  pollMs: number;
  /**
   * How long an attempt whose outcome is unknown (a timeout, a crash mid-send) waits for the
   * carrier's status callback, which names our message, before it is sent again.
   */
  reconcileMs: number;
  /** A message not sent within this of being queued fails. */
  deadlineMs: number;
  /** The first retry's delay; each next one doubles, up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Messages claimed (and sent in parallel) at once by one node. */
  batch: number;
}

export const defaultOutboxOptions: OutboxOptions = {
  pollMs: 1_000,
  reconcileMs: 120_000,
  deadlineMs: 3_600_000,
  retryBaseMs: 1_000,
  retryMaxMs: 300_000,
  batch: 16,
};

type OutboxDeps = Pick<AppDeps, 'db' | 'bus' | 'metrics' | 'logger'> & { publicUrl?: string | undefined };

interface Claimed {
  id: string;
  orgId: string;
  messageId: string;
  carrierId: string;
  attempts: number;
  deadlineAt: Date;
}

/**
 * Sends queued messages through their org's carrier, on every node.
 *
 * A message and its outbox row are written in the transaction that queued it, so a message
 * the agent saw queued is never lost. To send, a node claims due rows in one statement
 * (`FOR UPDATE SKIP LOCKED`: two nodes never claim the same row) and in that same statement
 * marks each `unconfirmed` and due again only after `reconcileMs`: the claim is committed
 * before the carrier is called. Then:
 * - the carrier takes it: the message becomes `sent` with the carrier's id, the row `done`;
 * - it refuses it for good: `failed` with the carrier's reason;
 * - it certainly did not take it (unreachable, 429): due again after a backoff;
 * - nobody knows (a timeout, a reset, a 5xx, or this node dies mid-send): the row stays
 *   `unconfirmed`. The carrier's status callback names our message, so if the carrier did
 *   take it, the callback settles the row (`advanceMessageStatus`) and it is never sent again.
 *   Only after `reconcileMs` without one is it sent again.
 * What remains possible: a second copy when the carrier took an attempt but its callback
 * never arrived within `reconcileMs` (the callback URL unreachable for that long, or no
 * PUBLIC_URL to call back). Past `deadlineAt` a message fails instead of being tried again.
 */
export class Outbox {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: OutboxDeps,
    private readonly carriers: Carriers,
    readonly options: OutboxOptions = defaultOutboxOptions,
  ) {
    // A claim's window must outlast the call it covers, or a second claim could send while the first waits for its answer.
    if (options.reconcileMs <= carriers.sendTimeoutMs) throw new Error('The reconcile window must be longer than a send may take (CARRIER_RECONCILE_MS > CARRIER_SEND_TIMEOUT_MS)');
  }

  get deadlineMs(): number {
    return this.options.deadlineMs;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Looks now (a message was just queued on this node). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  /** Stops looking and waits for the sends under way (their outcomes are recorded). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await Promise.allSettled([...this.#inFlight]);
  }

  #schedule(ms: number) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#run(), ms);
    this.#timer.unref?.();
  }

  async #run(): Promise<void> {
    if (this.#stopped || this.#running) return;
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          const claimed = await this.claim();
          for (const row of claimed) this.#track(this.#send(row));
          if (claimed.length === this.options.batch) this.#again = true;
        } while (this.#again && !this.#stopped);
      } catch (error) {
        this.deps.logger.error('outbox: claiming failed', { err: error });
      }
    })();
    await this.#running;
    this.#running = undefined;
    if (!this.#stopped) this.#schedule(this.options.pollMs);
  }

  #track(sending: Promise<void>) {
    this.#inFlight.add(sending);
    void sending.finally(() => this.#inFlight.delete(sending));
  }

  /** Claims the rows due now: each becomes `unconfirmed`, due again after the reconcile window (see the class). */
  async claim(now = new Date()): Promise<Claimed[]> {
    const until = new Date(now.getTime() + this.options.reconcileMs);
    return this.deps.db.$queryRaw<Claimed[]>`
      UPDATE "OutboxMessage" SET "state" = 'unconfirmed', "attempts" = "attempts" + 1, "nextAttemptAt" = ${until}
      WHERE "id" IN (
        SELECT "id" FROM "OutboxMessage"
        WHERE "state" <> 'done' AND "nextAttemptAt" <= ${now}
        ORDER BY "nextAttemptAt"
        LIMIT ${this.options.batch}
        FOR UPDATE SKIP LOCKED)
      RETURNING "id", "orgId", "messageId", "carrierId", "attempts", "deadlineAt"`;
  }

  async #send(row: Claimed): Promise<void> {
    try {
      const outcome = await this.#attempt(row);
      await this.#record(row, outcome);
    } catch (error) {
      // The row stays unconfirmed: due again after the reconcile window, as after a crash.
      this.deps.logger.error('outbox: send failed', { messageId: row.messageId, err: error });
    }
  }

  async #attempt(row: Claimed): Promise<SendOutcome> {
    if (row.deadlineAt.getTime() <= Date.now()) {
      return { outcome: 'rejected', reason: row.attempts > 1 ? 'Not confirmed by the carrier in time; it may or may not have been sent' : 'Not sent in time' };
    }
    const message = await this.deps.db.message.findFirst({
      where: { id: row.messageId, orgId: row.orgId },
      select: { body: true, status: true, conversationId: true, media: true },
    });
    if (message?.status !== 'queued') return { outcome: 'sent', providerId: '' };
    const conversation = await this.deps.db.conversation.findFirst({
      where: { id: message.conversationId, orgId: row.orgId },
      select: { channel: true, contactPhone: true, orgNumber: true },
    });
    const open = await this.carriers.open(row.carrierId);
    // Another node may hold the key that sealed them (CARRIER_KEYS differs between nodes): not this message's fault.
    if (!open) return { outcome: 'retryable', reason: "This node cannot open the carrier's credentials (see CARRIER_KEYS)" };
    if (!conversation?.contactPhone) return { outcome: 'rejected', reason: 'The conversation has no phone number to send to' };
    const media = await this.#files(row.orgId, message.media);
    if (!media) return { outcome: 'rejected', reason: 'Attached files need the server’s public address (PUBLIC_URL), which the carrier fetches them from' };
    const channel = conversation.channel === 'whatsapp' ? 'whatsapp' : 'sms';
    this.deps.metrics.carrierSends.inc({ carrier: open.kind, attempt: row.attempts > 1 ? 'retry' : 'first' });
    return open.carrier.send({
      messageId: row.messageId,
      channel,
      to: conversation.contactPhone,
      from: conversation.orgNumber,
      body: message.body,
      media,
      statusCallbackUrl: this.deps.publicUrl ? `${this.deps.publicUrl}${WEBHOOK_PATHS.status}?m=${encodeURIComponent(row.messageId)}` : null,
    });
  }

  /** The message's attached files at their public links; null when they cannot have one. */
  async #files(orgId: string, stored: unknown): Promise<OutboundFile[] | null> {
    const attached = storedMedia(stored).filter((item) => 'uploadId' in item);
    if (!attached.length) return [];
    if (!this.deps.publicUrl) return null;
    const links = await uploadLinks(
      this.deps.db,
      orgId,
      attached.map((item) => item.uploadId),
      this.deps.publicUrl,
    );
    return attached.flatMap((item) => {
      const url = links.get(item.uploadId);
      return url ? [{ url, contentType: item.contentType, name: item.name }] : [];
    });
  }

  async #record(row: Claimed, result: SendOutcome): Promise<void> {
    const { db } = this.deps;
    this.deps.metrics.carrierOutcomes.inc({ outcome: result.outcome });
    if (result.outcome === 'sent') {
      // Empty: the message had already left the queue (a callback got there first): only the row is settled.
      if (!result.providerId) {
        await db.outboxMessage.updateMany({ where: { id: row.id, state: { not: 'done' } }, data: { state: 'done' } });
        return;
      }
      await advanceMessageStatus(this.deps, row.orgId, { messageId: row.messageId }, { status: 'sent', providerSid: result.providerId });
      return;
    }
    if (result.outcome === 'rejected') {
      await advanceMessageStatus(this.deps, row.orgId, { messageId: row.messageId }, { status: 'failed', reason: result.reason });
      return;
    }
    if (result.outcome === 'unknown') {
      // Stays unconfirmed, due at the end of the reconcile window set by the claim; the reason is kept for the logs and the UI.
      await db.outboxMessage.updateMany({ where: { id: row.id, state: 'unconfirmed', attempts: row.attempts }, data: { lastError: result.reason.slice(0, 500) } });
      this.deps.logger.warn('outbox: outcome unknown, waiting for the carrier to report', { messageId: row.messageId, reason: result.reason });
      return;
    }
    const delay = Math.max(result.retryAfterMs ?? 0, Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (row.attempts - 1)));
    const next = new Date(Date.now() + delay);
    if (next.getTime() >= row.deadlineAt.getTime()) {
      await advanceMessageStatus(this.deps, row.orgId, { messageId: row.messageId }, { status: 'failed', reason: `Gave up after ${row.attempts} attempts: ${result.reason}` });
      return;
    }
    await db.outboxMessage.updateMany({
      where: { id: row.id, state: 'unconfirmed', attempts: row.attempts },
      data: { state: 'pending', nextAttemptAt: next, lastError: result.reason.slice(0, 500) },
    });
  }
}
