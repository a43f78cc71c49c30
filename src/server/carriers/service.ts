import { Connection } from 'rabbitmq-client';
import twilio from 'twilio';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { CarrierChannel, CarrierInfo, CarrierKind, ConnectCarrierInput } from '../../shared/carriers.ts';
import { type Db, runsOneTransactionAtATime, type Tx } from '../db/client.ts';
import { findEarlierResult, hashRequest, type IdempotencyOptions, keepKey } from '../events/idempotency.ts';
import type { Logger } from '../logger.ts';
import type { CredentialBox } from './credentials.ts';
import { twilioCarrier } from './twilio.ts';
import { createTwilioClient, TWILIO_API_URL } from './twilio-client.ts';
import type { Carrier } from './types.ts';
import { WHATSAPP_GRAPH_URL, WHATSAPP_GRAPH_VERSION, whatsappCloudCarrier } from './whatsapp-cloud.ts';
import { type RabbitCredentials, RabbitLinks, rabbitCarrier, rabbitCredentials } from './rabbitmq.ts';

export interface CarrierOptions {
  /** `TWILIO_API_URL`; absent: Twilio's own. */
  twilioApiUrl?: string | undefined;
  /** `WHATSAPP_GRAPH_URL`; absent: Meta's own. */
  whatsappGraphUrl?: string | undefined;
  /** `RABBITMQ_ALLOWED_HOSTS`: the brokers a bridge may be connected to (`*`: any); none by default. */
  rabbitAllowedHosts?: readonly string[] | undefined;
  /** One call to a carrier's API; past it the attempt's outcome is unknown. */
  sendTimeoutMs: number;
  /** `PUBLIC_URL` without its trailing slash: what carriers call back. */
  publicUrl?: string | undefined;
}

type CarrierRow = NonNullable<Awaited<ReturnType<Db['carrier']['findFirst']>>>;

/** A connected carrier with what its secret opens: the client that sends, and what checks its webhooks' signatures. */
export interface OpenCarrier {
  id: string;
  orgId: string;
  kind: CarrierKind;
  /** What names the account in webhooks (Twilio's Account SID, the WhatsApp phone number ID). */
  accountRef: string;
  channels: CarrierChannel[];
  carrier: Carrier;
  /** The secret a webhook from this account is signed with (Twilio's Auth Token, the Meta app's secret). */
  webhookSecret: string;
  /** What Meta's webhook handshake echoes (WhatsApp Cloud only). */
  verifyToken?: string;
  /** The broker and queues (RabbitMQ only). */
  rabbit?: RabbitCredentials;
  /** Where calls ring before voicemail. */
  forwardTo: string | null;
  /** The Authorization header that fetches the account's media (HTTP Basic, as Twilio's API takes). */
  mediaAuthorization: string;
}

const twilioCredentials = z.object({ accountSid: z.string(), authToken: z.string() });
const whatsappCloudCredentials = z.object({ phoneNumberId: z.string(), accessToken: z.string(), appSecret: z.string(), verifyToken: z.string() });
export const WHATSAPP_WEBHOOK_PATH = '/webhooks/whatsapp';

/** What is sealed, what may be shown, and what names the account in webhooks, per kind. */
function describeAccount(input: ConnectCarrierInput): { credentials: object; label: string; accountRef: string } {
  const tail = (secret: string) => `…${secret.slice(-4)}`;
  if (input.kind === 'twilio') {
    return {
      credentials: { accountSid: input.accountSid, authToken: input.authToken },
      label: `${input.accountSid.slice(0, 6)}…${input.accountSid.slice(-4)} · token ${tail(input.authToken)}`,
      accountRef: input.accountSid,
    };
  }
  if (input.kind === 'rabbitmq') {
    const { url, inboundQueue, statusQueue, outboundQueue, deadLetterQueue } = input;
    // The password stays sealed: the label shows where, not how.
    const where = new URL(url);
    const broker = `${where.protocol}//${where.host}${where.pathname === '/' ? '' : where.pathname}`;
    return {
      credentials: { url, inboundQueue, statusQueue, outboundQueue, deadLetterQueue },
      label: `${broker} · in ${inboundQueue}, statuses ${statusQueue}${outboundQueue ? `, out ${outboundQueue}` : ''}`,
      accountRef: `${where.host}/${inboundQueue}`,
    };
  }
  const { phoneNumberId, accessToken, appSecret, verifyToken } = input;
  return { credentials: { phoneNumberId, accessToken, appSecret, verifyToken }, label: `phone number ID ${phoneNumberId} · token ${tail(accessToken)}`, accountRef: phoneNumberId };
}

export const WEBHOOK_PATHS = {
  sms: '/webhooks/twilio/sms',
  status: '/webhooks/twilio/status',
  voice: '/webhooks/twilio/voice',
  afterDial: '/webhooks/twilio/voice/after-dial',
} as const;

const channelsOf = (row: { channels: string }) => row.channels.split(',') as CarrierChannel[];

/**
 * The orgs' carrier accounts: connecting, listing and disconnecting them (admins), and
 * opening one to send or to check a webhook. Opened carriers are kept by id; a row
 * never changes once written (connecting again writes a new row), so the cache never
 * goes stale, and disconnecting drops it.
 */
export class Carriers {
  readonly #opened = new Map<string, OpenCarrier>();

  constructor(
    private readonly db: Db,
    private readonly box: CredentialBox,
    private readonly options: CarrierOptions,
    private readonly logger: Logger,
    /** Connections to the brokers of `rabbitmq` carriers (carriers/rabbitmq.ts). */
    readonly rabbit: RabbitLinks = new RabbitLinks(logger),
  ) {}

  readonly #listeners = new Set<() => void>();

  /** Called after this node connects or disconnects a carrier (the RabbitMQ bridge starts or stops its consumers). */
  onChange(listener: () => void): void {
    this.#listeners.add(listener);
  }

  #info(row: CarrierRow): CarrierInfo {
    const base = this.options.publicUrl ?? '';
    return {
      id: row.id,
      kind: row.kind as CarrierKind,
      channels: channelsOf(row),
      label: row.label,
      forwardTo: row.forwardTo,
      createdAt: row.createdAt.toISOString(),
      webhooks:
        row.kind === 'rabbitmq'
          ? {}
          : row.kind === 'whatsapp_cloud'
            ? { whatsapp: `${base}${WHATSAPP_WEBHOOK_PATH}` }
            : { sms: `${base}${WEBHOOK_PATHS.sms}`, status: `${base}${WEBHOOK_PATHS.status}`, voice: `${base}${WEBHOOK_PATHS.voice}` },
    };
  }

  /** Where Meta's Graph API is (WhatsApp Cloud media objects are fetched from there). */
  get whatsappGraphUrl(): string {
    return (this.options.whatsappGraphUrl ?? WHATSAPP_GRAPH_URL).replace(/\/+$/, '');
  }

  /** Where Twilio's API (and the media it keeps) is: a media URL elsewhere is never fetched. */
  get twilioApiUrl(): string {
    return (this.options.twilioApiUrl ?? TWILIO_API_URL).replace(/\/+$/, '');
  }

  /** How long one call to a carrier may take. */
  get sendTimeoutMs(): number {
    return this.options.sendTimeoutMs;
  }

  async list(orgId: string): Promise<CarrierInfo[]> {
    const rows = await this.db.carrier.findMany({ where: { orgId, disconnectedAt: null }, orderBy: { createdAt: 'asc' } });
    return rows.map((row) => this.#info(row));
  }

  /** Connects the account for its channels; a carrier of the org already on one of them is disconnected (one carrier per channel). */
  /** A connect retried with its idempotency key: what the first one answered, if it got that far. */
  async earlierConnect(idempotency: IdempotencyOptions): Promise<CarrierInfo | undefined> {
    return (await findEarlierResult<CarrierInfo>(this.db, idempotency, hashRequest(idempotency.request)))?.result;
  }

  async connect(user: { id: string; orgId: string }, input: ConnectCarrierInput, idempotency?: IdempotencyOptions): Promise<CarrierInfo> {
    if (input.kind === 'rabbitmq') this.#checkBroker(input.url);
    const account = describeAccount(input);
    const { secret, keyId } = this.box.seal(user.orgId, account.credentials);
    // A bridge without an outbound queue only receives: it carries no channel out.
    const channels: CarrierChannel[] = input.kind === 'rabbitmq' && !input.outboundQueue ? [] : [...input.channels];
    const requestHash = idempotency && hashRequest(idempotency.request);
    const connected = await this.db.$transaction(async (tx) => {
      // One connect of an org at a time: two at once would each leave their carrier on the same channel,
      // and a retry waits for its first attempt's key (PGlite runs one transaction at a time anyway).
      if (!runsOneTransactionAtATime(this.db)) await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock(hashtext($1))', `carriers:${user.orgId}`);
      if (idempotency && requestHash) {
        const earlier = await findEarlierResult<CarrierInfo>(tx, idempotency, requestHash);
        if (earlier) return { earlier: earlier.result, created: null };
      }
      const current = await tx.carrier.findMany({ where: { orgId: user.orgId, disconnectedAt: null } });
      const replaced = current.filter((other) => channelsOf(other).some((channel) => channels.includes(channel)));
      if (replaced.length) await tx.carrier.updateMany({ where: { id: { in: replaced.map((other) => other.id) } }, data: { disconnectedAt: new Date() } });
      const created = await tx.carrier.create({
        data: {
          orgId: user.orgId,
          kind: input.kind,
          channels: channels.join(','),
          label: account.label,
          secret,
          keyId,
          accountRef: account.accountRef,
          forwardTo: input.kind === 'twilio' ? (input.forwardTo ?? null) : null,
          createdById: user.id,
        },
      });
      if (idempotency && requestHash) await keepKey(tx, idempotency, requestHash, this.#info(created));
      return { earlier: null, created };
    });
    if (!connected.created) return connected.earlier;
    const row = connected.created;
    for (const id of this.#opened.keys()) if (this.#opened.get(id)?.orgId === user.orgId) this.#opened.delete(id);
    this.logger.info('carrier connected', { orgId: user.orgId, carrierId: row.id, kind: row.kind, channels: row.channels });
    for (const listener of this.#listeners) listener();
    return this.#info(row);
  }

  /**
   * Asks the carrier whether the account works, before it is connected: a wrong token is
   * said now, not at the first customer's reply. BAD_REQUEST when the carrier refuses it,
   * PRECONDITION_FAILED when it cannot be reached.
   */
  async verify(input: ConnectCarrierInput): Promise<void> {
    const unreachable = (what: string, error: unknown) =>
      new TRPCError({ code: 'PRECONDITION_FAILED', message: `Could not reach ${what} to check the account: ${(error as Error).message ?? String(error)}` });
    if (input.kind === 'twilio') {
      try {
        await createTwilioClient(input, { apiUrl: this.options.twilioApiUrl, timeoutMs: this.options.sendTimeoutMs }).api.v2010.accounts(input.accountSid).fetch();
      } catch (error) {
        if (error instanceof twilio.RestException)
          throw new TRPCError({ code: 'BAD_REQUEST', message: `Twilio refused this Account SID and Auth Token (${error.code ?? error.status}: ${error.message})` });
        throw unreachable('Twilio', error);
      }
      return;
    }
    if (input.kind === 'whatsapp_cloud') {
      let response: Response;
      try {
        response = await fetch(`${this.whatsappGraphUrl}/${WHATSAPP_GRAPH_VERSION}/${input.phoneNumberId}`, {
          headers: { authorization: `Bearer ${input.accessToken}` },
          signal: AbortSignal.timeout(this.options.sendTimeoutMs),
        });
      } catch (error) {
        throw unreachable("Meta's Graph API", error);
      }
      if (response.ok) return;
      const body = (await response.json().catch(() => ({}))) as { error?: { code?: number; message?: string } };
      if (response.status >= 500) throw unreachable("Meta's Graph API", new Error(`HTTP ${response.status}`));
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `Meta refused this phone number ID and access token (${body.error?.code ?? response.status}: ${body.error?.message ?? 'refused'})`,
      });
    }
    this.#checkBroker(input.url);
    const connection = new Connection({ url: input.url, retryLow: 100, retryHigh: 500, connectionTimeout: this.options.sendTimeoutMs });
    let lastError: unknown = new Error('no answer');
    connection.on('error', (error) => (lastError = error));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // The client retries a refused login for ever: the check gives up after the send timeout.
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(lastError), this.options.sendTimeoutMs)));
      await Promise.race([connection.onConnect(this.options.sendTimeoutMs), timeout]);
    } catch (error) {
      throw unreachable('the broker', error);
    } finally {
      clearTimeout(timer);
      void connection.close().catch(() => {});
    }
  }

  #checkBroker(url: string) {
    const allowed = this.options.rabbitAllowedHosts ?? [];
    const host = new URL(url).hostname.toLowerCase().replace(/^\[|\]$/g, '');
    if (allowed.includes('*') || allowed.includes(host)) return;
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: allowed.length
        ? `The server may not connect to ${host}: the operator allows ${allowed.join(', ')} (RABBITMQ_ALLOWED_HOSTS)`
        : 'This server connects to no RabbitMQ broker until its operator allows one (RABBITMQ_ALLOWED_HOSTS)',
    });
  }

  async disconnect(orgId: string, id: string): Promise<void> {
    const { count } = await this.db.carrier.updateMany({ where: { id, orgId, disconnectedAt: null }, data: { disconnectedAt: new Date() } });
    if (!count) throw new TRPCError({ code: 'NOT_FOUND', message: `No connected carrier with id ${id}` });
    this.#opened.delete(id);
    for (const listener of this.#listeners) listener();
  }

  /** The org's carrier for a channel (inside the transaction that queues a message), or null: no carrier, the message is only recorded. */
  async forChannel(tx: Tx | Db, orgId: string, channel: string): Promise<{ id: string } | null> {
    const rows = await tx.carrier.findMany({ where: { orgId, disconnectedAt: null }, select: { id: true, channels: true } });
    return rows.find((row) => channelsOf(row).includes(channel as CarrierChannel)) ?? null;
  }

  /** A carrier by id, connected or not (a message queued before a disconnect still knows whom it was for); null if it cannot be opened. */
  async open(id: string): Promise<OpenCarrier | null> {
    const known = this.#opened.get(id);
    if (known) return known;
    const row = await this.db.carrier.findUnique({ where: { id } });
    return row ? this.#openRow(row) : null;
  }

  /** Every connected carrier of a kind (Meta's webhook handshake names no account, only the verify token). */
  async byKind(kind: CarrierKind): Promise<OpenCarrier[]> {
    const rows = await this.db.carrier.findMany({ where: { kind, disconnectedAt: null } });
    return rows.map((row) => this.#openRow(row)).filter((open): open is OpenCarrier => open !== null);
  }

  /** The connected carriers of an account (a webhook names its account); usually one. */
  byAccount(kind: CarrierKind, accountRef: string): Promise<OpenCarrier[]> {
    return this.byAccounts(kind, [accountRef]);
  }

  /** The connected carriers of any of these accounts, in one query (a webhook batch may name several). */
  async byAccounts(kind: CarrierKind, accountRefs: readonly string[]): Promise<OpenCarrier[]> {
    const rows = await this.db.carrier.findMany({ where: { kind, accountRef: { in: [...accountRefs] }, disconnectedAt: null } });
    return rows.map((row) => this.#openRow(row)).filter((open): open is OpenCarrier => open !== null);
  }

  #openRow(row: CarrierRow): OpenCarrier | null {
    // A connected carrier's credentials never change (rekeying seals the same ones): opened once.
    const known = row.disconnectedAt ? undefined : this.#opened.get(row.id);
    if (known) return known;
    let open: OpenCarrier;
    try {
      const sealed = this.box.open(row.orgId, row);
      const base = { id: row.id, orgId: row.orgId, accountRef: row.accountRef, channels: channelsOf(row), forwardTo: row.forwardTo };
      if (row.kind === 'rabbitmq') {
        const credentials = rabbitCredentials.parse(sealed);
        open = {
          ...base,
          kind: 'rabbitmq',
          carrier: rabbitCarrier(row.id, credentials, this.rabbit),
          webhookSecret: '',
          mediaAuthorization: '',
          rabbit: credentials,
        };
      } else if (row.kind === 'whatsapp_cloud') {
        const credentials = whatsappCloudCredentials.parse(sealed);
        open = {
          ...base,
          kind: 'whatsapp_cloud',
          carrier: whatsappCloudCarrier(credentials, { graphUrl: this.options.whatsappGraphUrl, timeoutMs: this.options.sendTimeoutMs }),
          webhookSecret: credentials.appSecret,
          verifyToken: credentials.verifyToken,
          mediaAuthorization: `Bearer ${credentials.accessToken}`,
        };
      } else {
        const credentials = twilioCredentials.parse(sealed);
        open = {
          ...base,
          kind: 'twilio',
          carrier: twilioCarrier(credentials, { apiUrl: this.options.twilioApiUrl, timeoutMs: this.options.sendTimeoutMs }),
          webhookSecret: credentials.authToken,
          mediaAuthorization: `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`,
        };
      }
    } catch (error) {
      this.logger.error('carrier credentials cannot be opened', { carrierId: row.id, err: error });
      return null;
    }
    if (!row.disconnectedAt) this.#opened.set(row.id, open);
    return open;
  }

  /** Seals every row that an older key sealed under the current key (at start; rows are few). */
  async rekey(): Promise<number> {
    const rows = await this.db.carrier.findMany({ where: { keyId: { not: this.box.currentKeyId } } });
    let moved = 0;
    for (const row of rows) {
      if (!this.box.holds(row.keyId)) continue;
      const sealed = this.box.seal(row.orgId, this.box.open(row.orgId, row) as object);
      await this.db.carrier.updateMany({ where: { id: row.id, keyId: row.keyId }, data: sealed });
      moved += 1;
    }
    const unreadable = rows.length - moved;
    if (unreadable) this.logger.warn('carrier credentials sealed with keys this node does not hold', { rows: unreadable });
    return moved;
  }
}
