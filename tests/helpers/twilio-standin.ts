import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StandInMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string;
  body: string;
  statusCallback: string | null;
  mediaUrls: string[];
  receivedAt: number;
}

export type Fault =
  /** Answer with Twilio's error JSON; the message is not accepted. */
  | { kind: 'status'; status: number; code?: number; message?: string }
  /** Never answer and record nothing: the client times out not knowing. */
  | { kind: 'hang-before-accept' }
  /** Accept the message (and run its callbacks) but never answer the HTTP request. */
  | { kind: 'hang-after-accept' }
  /** Accept, then destroy the socket without answering. */
  | { kind: 'reset-after-accept' };

export interface TwilioStandIn {
  /** e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** Accepted messages, in order. */
  messages: StandInMessage[];
  /** Every POST to Messages.json received, accepted or not. */
  createRequests: number;
  /** The next `count` create requests get this fault (faults queue up in order). */
  failNext(count: number, fault: Fault): void;
  /** Statuses posted to a message's StatusCallback after it is accepted, in order, each `callbackDelayMs` apart. Default ['sent', 'delivered']. */
  setCallbackStatuses(statuses: string[]): void;
  /** While paused, callbacks queue up; resuming sends them. */
  pauseCallbacks(): void;
  resumeCallbacks(): void;
  /** Each callback POST that got an HTTP answer (retried ones appear once per answer). */
  callbacksDelivered: { url: string; params: Record<string, string>; status: number }[];
  /** Keeps a file as Twilio keeps an inbound message's media; returns its URL (fetched with the account's Basic auth). */
  addMedia(accountSid: string, contentType: string, bytes: Buffer): string;
  /** GETs of media, authorized or not. */
  mediaRequests: number;
  /** POSTs a form to `url` signed as Twilio signs webhooks (X-Twilio-Signature) with the account's auth token; returns status and body text. */
  postSigned(accountSid: string, url: string, params: Record<string, string>): Promise<{ status: number; body: string; contentType: string | null }>;
  close(): Promise<void>;
}

export interface TwilioStandInOptions {
  /** Account SID -> Auth Token. */
  accounts: Record<string, string>;
  /** Default 20. */
  callbackDelayMs?: number;
  /** Default 20. */
  callbackRetries?: number;
  /** Default 250. */
  callbackRetryDelayMs?: number;
}

const API_VERSION = '2010-04-01';

/** Twilio's published webhook signature: base64(HMAC-SHA1(authToken, url + each param's name and value, sorted by name)). */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Twilio's date format in resources (RFC 2822), e.g. `Sat, 05 Dec 2026 03:55:55 +0000`. */
const rfc2822 = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** Twilio's (legacy) error body, the shape the client turns into a `RestException`. */
function sendError(res: ServerResponse, status: number, code: number, message: string) {
  sendJson(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A local Twilio REST API (Messages create and fetch) and status-callback sender on a random
 * loopback port, so tests run the real `twilio` client over real HTTP and can inject the
 * failures that matter to a sender: errors, lost answers after acceptance, late callbacks.
 */
export async function startTwilioStandIn(options: TwilioStandInOptions): Promise<TwilioStandIn> {
  const { accounts, callbackDelayMs = 20, callbackRetries = 20, callbackRetryDelayMs = 250 } = options;
  const faults: Fault[] = [];
  let callbackStatuses = ['sent', 'delivered'];
  // The status a fetch reports moves along with the callbacks, as Twilio's does.
  const current = new Map<string, { status: string; updatedAt: number }>();
  const stopped = new AbortController();
  const signal = stopped.signal;
  let paused: { promise: Promise<void>; resume: () => void } | undefined;
  const timelines = new Set<Promise<void>>();

  /** The account of a request whose Basic credentials match it and the SID in its path. */
  const authenticate = (req: IncomingMessage, pathSid: string): boolean => {
    const [scheme, encoded] = (req.headers.authorization ?? '').split(' ');
    if (scheme !== 'Basic' || !encoded) return false;
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    return colon > 0 && user === pathSid && Object.hasOwn(accounts, user) && accounts[user] === decoded.slice(colon + 1);
  };

  const resource = (m: StandInMessage) => {
    const state = current.get(m.sid)!;
    const failed = state.status === 'undelivered' || state.status === 'failed';
    const uri = `/${API_VERSION}/Accounts/${m.accountSid}/Messages/${m.sid}`;
    return {
      account_sid: m.accountSid,
      api_version: API_VERSION,
      body: m.body,
      date_created: rfc2822(m.receivedAt),
      date_sent: null,
      date_updated: rfc2822(state.updatedAt),
      direction: 'outbound-api',
      error_code: failed ? 30003 : null,
      error_message: failed ? 'Unreachable destination handset' : null,
      from: m.from,
      messaging_service_sid: null,
      num_media: String(m.mediaUrls.length),
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid: m.sid,
      status: state.status,
      subresource_uris: { media: `${uri}/Media.json` },
      to: m.to,
      uri: `${uri}.json`,
    };
  };

  /** Posts one callback, retrying connection errors and 5xx like Twilio's connection overrides. */
  const deliver = async (url: string, params: Record<string, string>, authToken: string) => {
    for (let attempt = 0; attempt <= callbackRetries; attempt++) {
      if (attempt > 0) await sleep(callbackRetryDelayMs, undefined, { signal });
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': twilioSignature(authToken, url, params) },
          body: new URLSearchParams(params),
          signal,
        });
        await response.arrayBuffer();
        standIn.callbacksDelivered.push({ url, params, status: response.status });
        if (response.status < 500) return;
      } catch (error) {
        if (signal.aborted) throw error;
      }
    }
  };

  /** The message's life after acceptance: one status after another, in order, held while paused. */
  const runTimeline = async (m: StandInMessage) => {
    for (const status of [...callbackStatuses]) {
      await sleep(callbackDelayMs, undefined, { signal });
      while (paused) await paused.promise;
      signal.throwIfAborted();
      current.set(m.sid, { status, updatedAt: Date.now() });
      if (!m.statusCallback) continue;
      const params: Record<string, string> = {
        MessageSid: m.sid,
        SmsSid: m.sid,
        AccountSid: m.accountSid,
        From: m.from,
        To: m.to,
        MessageStatus: status,
        SmsStatus: status,
        ApiVersion: API_VERSION,
        ...(status === 'undelivered' || status === 'failed' ? { ErrorCode: '30003' } : {}),
      };
      await deliver(m.statusCallback, params, accounts[m.accountSid]!);
    }
  };

  const accept = (accountSid: string, form: URLSearchParams): StandInMessage => {
    const m: StandInMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid,
      to: form.get('To')!,
      from: form.get('From') ?? '',
      body: form.get('Body') ?? '',
      statusCallback: form.get('StatusCallback'),
      mediaUrls: form.getAll('MediaUrl'),
      receivedAt: Date.now(),
    };
    standIn.messages.push(m);
    current.set(m.sid, { status: 'queued', updatedAt: m.receivedAt });
    // Ends quietly on close(); a callback that never got through is the test's to notice.
    const timeline = runTimeline(m).catch(() => {});
    timelines.add(timeline);
    void timeline.finally(() => timelines.delete(timeline));
    return m;
  };

  const create = async (req: IncomingMessage, res: ServerResponse, accountSid: string) => {
    standIn.createRequests++;
    // A fault is taken by the next create whatever it holds: it models Twilio's edge failing, ahead of auth and validation.
    const fault = faults.shift();
    const form = new URLSearchParams(await readBody(req));
    // Twilio's codes for HTTP errors of its own are 20000 + status (20429, 20500, 20503).
    if (fault?.kind === 'status') return sendError(res, fault.status, fault.code ?? 20000 + fault.status, fault.message ?? `Stand-in fault: HTTP ${fault.status}`);
    if (fault?.kind === 'hang-before-accept') return;
    if (!authenticate(req, accountSid)) return sendError(res, 401, 20003, 'Authenticate');
    const to = form.get('To');
    if (!to) return sendError(res, 400, 21604, "A 'To' phone number is required.");
    if (!/^(whatsapp:)?\+\d{8,15}$/.test(to)) return sendError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!form.get('From') && !form.get('MessagingServiceSid')) return sendError(res, 400, 21603, "A 'From' phone number is required.");
    if (!form.get('Body') && !form.has('MediaUrl')) return sendError(res, 400, 21602, 'Message body is required.');
    const m = accept(accountSid, form);
    if (fault?.kind === 'hang-after-accept') return;
    if (fault?.kind === 'reset-after-accept') req.socket.destroy();
    else sendJson(res, 201, resource(m));
  };

  const media = new Map<string, { contentType: string; bytes: Buffer }>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    const created = path.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/);
    if (created && req.method === 'POST') {
      create(req, res, created[1]!).catch(() => res.destroy());
      return;
    }
    const medium = path.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/[^/]+\/Media\/[^/]+$/);
    if (medium && req.method === 'GET') {
      standIn.mediaRequests++;
      if (!authenticate(req, medium[1]!)) return sendError(res, 401, 20003, 'Authenticate');
      const file = media.get(path);
      if (file) {
        res.writeHead(200, { 'Content-Type': file.contentType, 'Content-Length': String(file.bytes.length) });
        res.end(file.bytes);
        return;
      }
    }
    // The account itself: what a client fetches to check its credentials.
    const account = path.match(/^\/2010-04-01\/Accounts\/([^/]+)\.json$/);
    if (account && req.method === 'GET') {
      if (!authenticate(req, account[1]!)) return sendError(res, 401, 20003, 'Authenticate');
      return sendJson(res, 200, { sid: account[1], friendly_name: 'Stand-in account', status: 'active', type: 'Full' });
    }
    const fetched = path.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/([^/]+)\.json$/);
    if (fetched && req.method === 'GET') {
      if (!authenticate(req, fetched[1]!)) return sendError(res, 401, 20003, 'Authenticate');
      const m = standIn.messages.find((candidate) => candidate.sid === fetched[2] && candidate.accountSid === fetched[1]);
      if (m) return sendJson(res, 200, resource(m));
    }
    sendError(res, 404, 20404, `The requested resource ${path} was not found`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const standIn: TwilioStandIn = {
    url: `http://127.0.0.1:${port}`,
    messages: [],
    createRequests: 0,
    failNext(count, fault) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    setCallbackStatuses(statuses) {
      callbackStatuses = [...statuses];
    },
    pauseCallbacks() {
      if (paused) return;
      let resume = () => {};
      const promise = new Promise<void>((resolve) => (resume = resolve));
      paused = { promise, resume };
    },
    resumeCallbacks() {
      const gate = paused;
      paused = undefined;
      gate?.resume();
    },
    callbacksDelivered: [],
    mediaRequests: 0,
    addMedia(accountSid, contentType, bytes) {
      const path = `/2010-04-01/Accounts/${accountSid}/Messages/MM${randomBytes(16).toString('hex')}/Media/ME${randomBytes(16).toString('hex')}`;
      media.set(path, { contentType, bytes });
      return `${standIn.url}${path}`;
    },
    async postSigned(accountSid, url, params) {
      const authToken = accounts[accountSid];
      if (authToken === undefined) throw new Error(`postSigned: unknown account ${accountSid}`);
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': twilioSignature(authToken, url, params) },
        body: new URLSearchParams(params),
      });
      return { status: response.status, body: await response.text(), contentType: response.headers.get('content-type') };
    },
    async close() {
      stopped.abort();
      // Paused timelines wake up, see the abort and end.
      standIn.resumeCallbacks();
      await Promise.all(timelines);
      // Hung requests and the client's keep-alive sockets would hold server.close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return standIn;
}
