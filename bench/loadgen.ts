/**
 * The load generator: its own process (pinned to its own core by bench/run.ts),
 * driven over IPC. Every contestant is spoken to on plain WebSocket connections
 * (`wire.ts`, a lean RFC 6455 client), so the client-side cost is the same for all:
 * tRPC's WebSocket protocol (Tandem and the plain tRPC baseline), engine.io/Socket.IO
 * framing, or the bare baselines' JSON.
 *
 * Each change carries a nonce (`bn:<n>:`) in its name; the send time of nonce n is
 * kept, and each delivery's latency is (receive time − send time), same clock.
 * Each subscriber checks that `seq` only grows (a repeat is a duplicate) and counts
 * what it got; missing = expected − unique deliveries.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { WireSocket } from './wire.ts';

/** `tandem-iterator`: Tandem with WS_DIRECT_DELIVERY=false (every delivery through the subscription's generator), for A/B in one run. */
export type Kind = 'tandem' | 'tandem-iterator' | 'trpc-ee' | 'ws' | 'ws-batched' | 'socketio';

export interface Target {
  kind: Kind;
  /** http://host:port */
  url: string;
}

export interface ConnectCommand {
  cmd: 'connect';
  target: Target;
  /** One entry per org: the tokens its subscribers use (round robin) and its sender's token. */
  orgs: { subscriberTokens: string[]; senderToken: string }[];
  subscribersPerOrg: number;
  /** Subscribe to the stream (false: connect and authenticate only). */
  subscribe?: boolean;
  /** Where the senders connect, when not to `target` (another node of the same cluster). */
  senderUrl?: string;
  /** Reconnect and resume when a socket closes (the storm). */
  resume?: boolean;
  concurrency?: number;
}
export interface StepCommand {
  cmd: 'step';
  /** Changes per second over all orgs. */
  rate: number;
  durationMs: number;
  /** How long to wait for the last deliveries after the last send. */
  settleMs: number;
}

export interface StepResult {
  rate: number;
  sent: number;
  acked: number;
  errors: number;
  expected: number;
  delivered: number;
  duplicates: number;
  missing: number;
  p50: number;
  p99: number;
  max: number;
  seconds: number;
  loadgenCpuMs: number;
  /** p99 of send → mutation reply, in ms. */
  ackP99: number;
  /** p99 over changes of send → its first delivery to any subscriber: commit and publish, before the fan-out's spread. */
  firstP99: number;
}

type Send = (frame: string) => void;
type Parsed = { live?: true; seq?: number; nonce?: number; ack?: number; error?: boolean } | null;

interface Protocol {
  path: string;
  /** Returns true when the connection is ready at once (tRPC answers connectionParams with nothing). */
  onOpen(send: Send, token: string, subscribe: boolean, lastSeq: number): boolean;
  /**
   * Returns 'live' when the connection is ready, or the event's (seq, nonce), or an ack id.
   * Frames come as bytes: an event is read without decoding it to a string, the cheapest a
   * client can be (the load generator's core is the limit near saturation).
   */
  parse(frame: Buffer, send: Send): Parsed;
  mutation(id: number, name: string, key: string): string;
}

function numberAfter(frame: string, marker: string, from = 0): number {
  const at = frame.indexOf(marker, from);
  if (at < 0) return -1;
  return Number.parseInt(frame.slice(at + marker.length, at + marker.length + 20), 10);
}

const DIGIT_0 = 0x30;

function startsWith(frame: Buffer, prefix: Buffer): boolean {
  if (frame.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (frame[i] !== prefix[i]) return false;
  return true;
}

/** The decimal digits at `from`, or -1 when there are none. */
function digitsAt(frame: Buffer, from: number): number {
  let value = 0;
  let at = from;
  for (; at < frame.length; at++) {
    const digit = frame[at]! - DIGIT_0;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return at === from ? -1 : value;
}

/**
 * Finds a marker in frames that all share one layout (one contestant's events, where only
 * digits and ids change length): it looks where the marker was last time, a few bytes
 * either side, and searches the whole frame only when that misses. 0.05 µs per frame
 * against 0.6–0.9 µs for a scan or two searches (microbenchmark on 650-byte frames).
 */
class Marker {
  readonly #bytes: Buffer;
  #last = -1;

  constructor(text: string) {
    this.#bytes = Buffer.from(text);
  }

  /** Where the marker's value starts in `frame`, or -1. */
  valueAt(frame: Buffer): number {
    const last = this.#last;
    if (last >= 0) {
      for (let shift = 0; shift <= 8; shift++) {
        if (this.#isAt(frame, last + shift)) return this.#found(last + shift);
        if (shift > 0 && this.#isAt(frame, last - shift)) return this.#found(last - shift);
      }
    }
    const at = frame.indexOf(this.#bytes);
    return at < 0 ? -1 : this.#found(at);
  }

  #isAt(frame: Buffer, at: number): boolean {
    const bytes = this.#bytes;
    if (at < 0 || at + bytes.length > frame.length) return false;
    for (let i = 0; i < bytes.length; i++) if (frame[at + i] !== bytes[i]) return false;
    return true;
  }

  #found(at: number): number {
    this.#last = at;
    return at + this.#bytes.length;
  }
}

const SEQ = new Marker('"seq":');
const NONCE = new Marker('"bn:');

/** An event's `"seq":N` and the nonce in its name, `"bn:N:`; null for anything else. */
function parseEvent(frame: Buffer): { seq: number; nonce: number } | null {
  const nonceAt = NONCE.valueAt(frame);
  if (nonceAt < 0) return null;
  const seqAt = SEQ.valueAt(frame);
  return { seq: seqAt < 0 ? -1 : digitsAt(frame, seqAt), nonce: digitsAt(frame, nonceAt) };
}

const TRPC_DATA = Buffer.from('{"id":1,"result":{"type":"data"');

const trpcProtocol: Protocol = {
  path: '/trpc?connectionParams=1',
  onOpen(send, token, subscribe, lastSeq) {
    send(JSON.stringify({ method: 'connectionParams', data: { token } }));
    const input = lastSeq > 0 ? { lastEventId: String(lastSeq) } : {};
    if (!subscribe) return true;
    send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'events.onAny', input } }));
    return false;
  },
  parse(bytes, send) {
    // Subscription data first: it is nearly every frame, and the other protocols find theirs with one prefix test too.
    if (startsWith(bytes, TRPC_DATA)) return parseEvent(bytes);
    const frame = bytes.toString();
    if (frame === 'PING') {
      send('PONG');
      return null;
    }
    const id = numberAfter(frame, '{"id":');
    if (id === 1) {
      if (frame.startsWith('{"id":1,"error"')) {
        refusals.set(errorCodeOf(frame), (refusals.get(errorCodeOf(frame)) ?? 0) + 1);
        return { error: true };
      }
      // Anything else on id 1 is "started".
      return { live: true };
    }
    // A mutation's reply: an acknowledgement (its record holds the nonce too, but it is no delivery).
    if (id > 1) return { ack: id, error: frame.startsWith(`{"id":${id},"error"`) };
    return null;
  },
  mutation(id, name, key) {
    return JSON.stringify({ id, method: 'mutation', params: { path: 'leads.create', input: { name, idempotencyKey: key } } });
  },
};

const WS_CONTROL = Buffer.from('{"t":"');
const WS_EVENT = Buffer.from('{"t":"event"');

const wsProtocol: Protocol = {
  path: '/',
  onOpen(send, token) {
    send(JSON.stringify({ t: 'auth', token }));
    return false;
  },
  parse(bytes) {
    if (startsWith(bytes, WS_EVENT) || !startsWith(bytes, WS_CONTROL)) return parseEvent(bytes);
    const frame = bytes.toString();
    if (frame === '{"t":"ready"}') return { live: true };
    if (frame.startsWith('{"t":"ack"')) return { ack: numberAfter(frame, '"id":') };
    return null;
  },
  mutation(id, name) {
    return JSON.stringify({ t: 'mut', id, name });
  },
};

const SIO_EVENT = Buffer.from('42[');

const socketIoProtocol: Protocol = {
  path: '/socket.io/?EIO=4&transport=websocket',
  onOpen: () => false,
  parse(bytes, send) {
    if (startsWith(bytes, SIO_EVENT)) return parseEvent(bytes);
    const frame = bytes.toString();
    if (frame === '2') {
      send('3');
      return null;
    }
    if (frame.startsWith('43')) return { ack: Number.parseInt(frame.slice(2), 10) };
    if (frame.startsWith('40')) return { live: true };
    return null;
  },
  mutation(id, name) {
    return `42${id}${JSON.stringify(['mut', { name }])}`;
  },
};

function protocolOf(kind: Kind): Protocol {
  if (kind === 'tandem' || kind === 'tandem-iterator' || kind === 'trpc-ee') return trpcProtocol;
  if (kind === 'socketio') return socketIoProtocol;
  return wsProtocol;
}

interface Conn {
  org: number;
  token: string;
  ws?: WireSocket;
  live: boolean;
  lastSeq: number;
  /** Unique deliveries of this run's changes. */
  received: number;
  duplicates: number;
  reconnects: number;
  /** Failed attempts since it was last live: the backoff's exponent. */
  attempts: number;
}

interface Sender {
  org: number;
  token: string;
  ws?: WireSocket;
  live: boolean;
  /** Mutations sent and not yet answered: id → [nonce, key]; resent after a reconnect. */
  pending: Map<number, { nonce: number; name: string; key: string }>;
  queued: { nonce: number; name: string; key: string }[];
}

let target: Target;
let senderUrl: string | undefined;
let protocol: Protocol;
let subscribers: Conn[] = [];
let senders: Sender[] = [];
let resume = false;
let subscribe = true;
let nextId = 2;
let nextNonce = 1;
let sendTimes = new Float64Array(1 << 16);
/** 1 once a change's first delivery arrived (indexed by nonce, as sendTimes). */
let firstSeen = new Uint8Array(1 << 16);
let firstLatencies: number[] = [];
let latencies: number[] = [];
/** Send → mutation reply: how long the server took to commit (and, for the baselines, to fan out). */
let ackLatencies: number[] = [];
/** Acknowledged changes per org: what each of its subscribers should end up with. */
let ackedPerOrg: number[] = [];
let acked = 0;
let errors = 0;
/** Why subscriptions were refused before going live, by tRPC error code (the storm reports it). */
const refusals = new Map<string, number>();
/** Sockets that closed before their subscription went live, by how far they got (never opened, or the close code after opening). */
const closedBeforeLive = new Map<string, number>();

function errorCodeOf(frame: string): string {
  try {
    return String((JSON.parse(frame) as { error?: { data?: { code?: string } } }).error?.data?.code ?? 'unknown');
  } catch {
    return 'unparsable';
  }
}
let firstDropAt = 0;
let lastLiveAt = 0;

function reply(message: unknown) {
  process.send!(message);
}

function open(
  conn: { token: string; ws?: WireSocket; live: boolean },
  onFrame: (frame: Buffer, send: Send) => void,
  onLive: () => void,
  onClose: () => void,
  lastSeq = 0,
  isSubscriber = true,
) {
  const url = !isSubscriber && senderUrl ? senderUrl : target.url;
  const ws = new WireSocket(url.replace(/^http/, 'ws') + protocol.path);
  conn.ws = ws;
  const send: Send = (frame) => ws.send(frame);
  let opened = false;
  ws.onopen = () => {
    opened = true;
    if (target.kind === 'socketio') return;
    if (protocol.onOpen(send, conn.token, isSubscriber && subscribe, lastSeq)) {
      conn.live = true;
      onLive();
    }
  };
  ws.onmessage = (frame) => {
    // engine.io's handshake, `0{…}`.
    if (target.kind === 'socketio' && frame[0] === 0x30 && frame[1] === 0x7b) {
      send(`40${JSON.stringify({ token: conn.token })}`);
      return;
    }
    if (!conn.live) {
      const parsed = protocol.parse(frame, send);
      if (parsed?.live) {
        conn.live = true;
        onLive();
      } else if (parsed?.error) ws.close();
      return;
    }
    onFrame(frame, send);
  };
  ws.onclose = (code) => {
    if (!conn.live && isSubscriber) {
      const why = opened ? `closed ${code} after opening` : 'never opened';
      closedBeforeLive.set(why, (closedBeforeLive.get(why) ?? 0) + 1);
    }
    conn.live = false;
    onClose();
  };
}

function handleDelivery(conn: Conn, frame: Buffer, send: Send) {
  const parsed = protocol.parse(frame, send);
  if (!parsed || parsed.nonce === undefined || parsed.seq === undefined) return;
  if (parsed.seq <= conn.lastSeq) {
    conn.duplicates += 1;
    return;
  }
  conn.lastSeq = parsed.seq;
  conn.received += 1;
  const sentAt = sendTimes[parsed.nonce];
  if (!sentAt) return;
  const latency = performance.now() - sentAt;
  latencies.push(latency);
  if (firstSeen[parsed.nonce] === 0) {
    firstSeen[parsed.nonce] = 1;
    firstLatencies.push(latency);
  }
}

function connectSubscriber(conn: Conn): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    const attempt = () =>
      open(
        conn,
        (frame, send) => handleDelivery(conn, frame, send),
        () => {
          conn.attempts = 0;
          lastLiveAt = performance.now();
          if (!settled) {
            settled = true;
            resolve();
          }
        },
        () => {
          if (!resume && settled) return;
          if (!firstDropAt) firstDropAt = performance.now();
          conn.reconnects += 1;
          conn.attempts += 1;
          // Jittered backoff, as a real client does: 250 ms × 2^n up to 2 s.
          const delay = Math.min(2_000, 250 * 2 ** Math.min(conn.attempts - 1, 3)) * (0.5 + Math.random());
          setTimeout(attempt, settled ? delay : 200);
        },
        conn.lastSeq,
      );
    attempt();
  });
}

function connectSender(sender: Sender): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    const attempt = () =>
      open(
        sender,
        (frame, send) => {
          const parsed = protocol.parse(frame, send);
          if (parsed?.ack === undefined) return;
          const pending = sender.pending.get(parsed.ack);
          if (!pending) return;
          sender.pending.delete(parsed.ack);
          if (parsed.error) {
            errors += 1;
            // Retried with the same key: the server applies it at most once.
            setTimeout(() => sender.queued.push(pending), 50);
            return;
          }
          acked += 1;
          const sentAt = sendTimes[pending.nonce];
          if (sentAt) ackLatencies.push(performance.now() - sentAt);
          ackedPerOrg[sender.org] = (ackedPerOrg[sender.org] ?? 0) + 1;
        },
        () => {
          // What was in flight when the socket dropped is resent with its key.
          for (const pending of sender.pending.values()) sender.queued.push(pending);
          sender.pending.clear();
          flushQueue(sender);
          if (!settled) {
            settled = true;
            resolve();
          }
        },
        () => {
          if (!resume && settled) return;
          setTimeout(attempt, 200 + Math.random() * 300);
        },
        0,
        false,
      );
    attempt();
  });
}

function flushQueue(sender: Sender) {
  while (sender.live && sender.queued.length) sendChange(sender, sender.queued.shift()!);
}

function sendChange(sender: Sender, change: { nonce: number; name: string; key: string }) {
  if (!sender.live || !sender.ws) {
    sender.queued.push(change);
    return;
  }
  const id = nextId++;
  sender.pending.set(id, change);
  sender.ws.send(protocol.mutation(id, change.name, change.key));
}

function newChange(sender: Sender) {
  const nonce = nextNonce++;
  if (nonce >= sendTimes.length) {
    const grown = new Float64Array(sendTimes.length * 2);
    grown.set(sendTimes);
    sendTimes = grown;
    const grownSeen = new Uint8Array(grown.length);
    grownSeen.set(firstSeen);
    firstSeen = grownSeen;
  }
  sendTimes[nonce] = performance.now();
  sendChange(sender, { nonce, name: `bn:${nonce}:`, key: `bench-${process.pid}-${nonce}` });
}

async function inBatches<T>(items: T[], concurrency: number, run: (item: T) => Promise<void>) {
  let index = 0;
  let done = 0;
  let lastReport = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (index < items.length) {
        await run(items[index++]!);
        done += 1;
        if (performance.now() - lastReport > 2_000) {
          lastReport = performance.now();
          reply({ progress: `${done}/${items.length} connected` });
        }
      }
    }),
  );
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function connect(command: ConnectCommand) {
  target = command.target;
  senderUrl = command.senderUrl;
  protocol = protocolOf(target.kind);
  resume = command.resume ?? false;
  subscribe = command.subscribe ?? true;
  ackedPerOrg = command.orgs.map(() => 0);
  // Counted per set of connections: a storm run more than once reports each run's own.
  refusals.clear();
  closedBeforeLive.clear();
  const started = performance.now();
  subscribers = [];
  command.orgs.forEach((org, index) => {
    for (let i = 0; i < command.subscribersPerOrg; i++) {
      subscribers.push({
        org: index,
        token: org.subscriberTokens[i % org.subscriberTokens.length]!,
        live: false,
        lastSeq: 0,
        received: 0,
        duplicates: 0,
        reconnects: 0,
        attempts: 0,
      });
    }
  });
  senders = command.orgs.map((org, index) => ({ org: index, token: org.senderToken, live: false, pending: new Map(), queued: [] }));
  await inBatches(subscribers, command.concurrency ?? 100, connectSubscriber);
  if (subscribe) await Promise.all(senders.map(connectSender));
  return { connected: subscribers.filter((s) => s.live).length, ms: performance.now() - started };
}

async function step(command: StepCommand): Promise<StepResult> {
  latencies = [];
  ackLatencies = [];
  firstLatencies = [];
  const ackedBefore = acked;
  const errorsBefore = errors;
  const receivedBefore = subscribers.map((s) => s.received);
  const dupBefore = subscribers.reduce((sum, s) => sum + s.duplicates, 0);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let sent = 0;
  let turn = 0;
  // Paced by the clock, every millisecond: at rate r, sends what is due so far.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.min(Math.floor((elapsed / 1000) * command.rate), Math.floor((command.durationMs / 1000) * command.rate));
      while (sent < due) {
        newChange(senders[turn++ % senders.length]!);
        sent += 1;
      }
      if (elapsed >= command.durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const sendEnd = performance.now();
  // Settle: stop early once every subscriber got every change of its org.
  const expected = sent * (subscribers.length / senders.length);
  const deliveredSince = () => subscribers.reduce((sum, s, i) => sum + s.received - receivedBefore[i]!, 0);
  while (performance.now() - sendEnd < command.settleMs && deliveredSince() < expected) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (sendEnd - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  const delivered = deliveredSince();
  return {
    rate: command.rate,
    sent,
    acked: acked - ackedBefore,
    errors: errors - errorsBefore,
    expected,
    delivered,
    duplicates: subscribers.reduce((sum, s) => sum + s.duplicates, 0) - dupBefore,
    missing: Math.max(0, expected - delivered),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    seconds,
    loadgenCpuMs: (cpu.user + cpu.system) / 1000,
    ackP99: percentile(Float64Array.from(ackLatencies).sort(), 0.99),
    firstP99: percentile(Float64Array.from(firstLatencies).sort(), 0.99),
  };
}

/** The storm: changes keep flowing while the server restarts; resumes must lose and repeat nothing. */
let stormTimer: ReturnType<typeof setInterval> | undefined;
let ackedAtStormStart = 0;
let errorsAtStormStart = 0;
function stormStart(rate: number) {
  ackedAtStormStart = acked;
  // The storm's own errors, not those of the scenarios (or repeats) before it.
  errorsAtStormStart = errors;
  firstDropAt = 0;
  lastLiveAt = 0;
  let turn = 0;
  const started = performance.now();
  let sent = 0;
  stormTimer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      newChange(senders[turn++ % senders.length]!);
      sent += 1;
    }
  }, 5);
}

async function waitLive(timeoutMs: number) {
  const started = performance.now();
  while (subscribers.some((s) => !s.live) || senders.some((s) => !s.live)) {
    if (performance.now() - started > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    live: subscribers.filter((s) => s.live).length,
    of: subscribers.length,
    allLiveMsAfterFirstDrop: lastLiveAt && firstDropAt ? lastLiveAt - firstDropAt : Number.NaN,
    reconnects: subscribers.reduce((sum, s) => sum + s.reconnects, 0),
    closedBeforeLive: Object.fromEntries(closedBeforeLive),
    refusals: Object.fromEntries(refusals),
  };
}

async function stormStop(timeoutMs: number) {
  clearInterval(stormTimer);
  const started = performance.now();
  const outstanding = () => senders.reduce((sum, s) => sum + s.pending.size + s.queued.length, 0);
  while (outstanding() > 0 && performance.now() - started < timeoutMs) await new Promise((resolve) => setTimeout(resolve, 20));
  const complete = () => subscribers.every((s) => s.received >= (ackedPerOrg[s.org] ?? 0));
  while (!complete() && performance.now() - started < timeoutMs) await new Promise((resolve) => setTimeout(resolve, 50));
  // A client still catching up when time ran out has not lost anything yet: it is counted
  // apart (notCaughtUp), and missing/duplicated are counted over the clients that are live.
  let missing = 0;
  let extra = 0;
  let notCaughtUp = 0;
  for (const s of subscribers) {
    const expected = ackedPerOrg[s.org] ?? 0;
    if (!s.live) {
      notCaughtUp += 1;
      continue;
    }
    if (s.received < expected) missing += expected - s.received;
    else extra += s.received - expected;
  }
  return {
    changes: acked - ackedAtStormStart,
    unacknowledged: outstanding(),
    expectedDeliveries: subscribers.reduce((sum, s) => sum + (ackedPerOrg[s.org] ?? 0), 0),
    delivered: subscribers.reduce((sum, s) => sum + s.received, 0),
    notCaughtUp,
    missing,
    duplicates: subscribers.reduce((sum, s) => sum + s.duplicates, 0) + extra,
    errors: errors - errorsAtStormStart,
  };
}

/**
 * The mutation path (Tandem only): `workers` closed loops, each in its own org, each
 * creating one lead and then updating it again and again (`leads.update` with its
 * expectedVersion): what one node commits with its event log, and how long each takes.
 */
async function mutationPath(command: { url: string; tokens: string[]; durationMs: number }) {
  const url = `${command.url.replace(/^http/, 'ws')}/trpc?connectionParams=1`;
  const durations: number[] = [];
  let failures = 0;
  const started = performance.now();
  const recordIds: string[] = [];
  await Promise.all(
    command.tokens.map(
      (token, worker) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          let id = 1;
          let sentAt = 0;
          let record: { id: string; version: number } | undefined;
          const call = (path: string, input: unknown) => {
            sentAt = performance.now();
            ws.send(JSON.stringify({ id: ++id, method: 'mutation', params: { path, input } }));
          };
          const next = () => {
            if (performance.now() - started > command.durationMs) {
              ws.close();
              return resolve();
            }
            call('leads.update', { id: record!.id, expectedVersion: record!.version, patch: { score: id % 100 } });
          };
          ws.on('open', () => {
            ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
            call('leads.create', { name: `mp:${worker}` });
          });
          ws.on('message', (data) => {
            const frame = String(data);
            if (frame === 'PING') return ws.send('PONG');
            const message = JSON.parse(frame) as { result?: { data?: { id: string; version: number } }; error?: unknown };
            if (message.error || !message.result?.data) {
              failures += 1;
              if (failures > 100) reject(new Error(`mutation path: ${frame}`));
              return setTimeout(next, 10);
            }
            if (record) durations.push(performance.now() - sentAt);
            record = { id: message.result.data.id, version: message.result.data.version };
            recordIds[worker] = record.id;
            next();
          });
          ws.on('error', reject);
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(durations).sort();
  return { commits: durations.length, seconds, perSecond: durations.length / seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), failures, recordIds };
}

/**
 * An open-loop stream of `leads.create` at `rate` per second over `connectionsPerToken`
 * sockets per token, for `durationMs`, as many independent users would send them: none
 * waits for its answer before the next is due. A refusal (SERVICE_UNAVAILABLE with
 * `retryAfterMs`) is sent again after that hint with the same idempotency key, as the
 * client link does. Then it waits (up to `drainTimeoutMs`) until every call has an answer.
 */
async function overload(command: { url: string; tokens: string[]; connectionsPerToken: number; rate: number; durationMs: number; drainTimeoutMs: number; tag: string }) {
  const url = `${command.url.replace(/^http/, 'ws')}/trpc?connectionParams=1`;
  const sockets = await Promise.all(
    command.tokens.flatMap((token) =>
      Array.from(
        { length: command.connectionsPerToken },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url, { perMessageDeflate: false });
            ws.on('open', () => {
              ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
              resolve(ws);
            });
            ws.on('error', reject);
          }),
      ),
    ),
  );
  interface Call {
    input: { name: string; idempotencyKey: string };
    socket: WebSocket;
    firstSentAt: number;
    sentAt: number;
    attempt: number;
  }
  const pending = new Map<number, Call>();
  const accepted: number[] = [];
  const endToEnd: number[] = [];
  let refused = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  let waiting = 0;
  let nextId = 0;
  const send = (call: Call) => {
    const id = ++nextId;
    call.sentAt = performance.now();
    pending.set(id, call);
    call.socket.send(JSON.stringify({ id, method: 'mutation', params: { path: 'leads.create', input: call.input } }));
  };
  for (const socket of sockets) {
    socket.on('message', (data) => {
      const frame = String(data);
      if (frame === 'PING') return socket.send('PONG');
      const message = JSON.parse(frame) as { id?: number; result?: unknown; error?: { data?: { code?: string; retryAfterMs?: number } } };
      const call = message.id === undefined ? undefined : pending.get(message.id);
      if (!call) return;
      pending.delete(message.id!);
      const now = performance.now();
      if (message.result) {
        accepted.push(now - call.sentAt);
        endToEnd.push(now - call.firstSentAt);
        waiting -= 1;
      } else if (message.error?.data?.code === 'SERVICE_UNAVAILABLE') {
        refused += 1;
        // As the client link does (src/client/link/request.ts): the hint, or a doubling backoff when longer, spread out.
        call.attempt += 1;
        const backoff = Math.min(2_000, 50 * 2 ** (call.attempt - 1));
        setTimeout(() => send(call), Math.max(message.error.data.retryAfterMs ?? 50, backoff) * (1 + Math.random()));
      } else {
        failed += 1;
        waiting -= 1;
        const code = message.error?.data?.code ?? 'unknown';
        failures[code] = (failures[code] ?? 0) + 1;
      }
    });
  }
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - started;
      const due = Math.min(Math.floor((elapsed / 1000) * command.rate), Math.floor((command.durationMs / 1000) * command.rate));
      for (; sent < due; sent++) {
        const now = performance.now();
        waiting += 1;
        send({
          input: { name: `${command.tag}:${sent}`, idempotencyKey: `${command.tag}-key-${sent}` },
          socket: sockets[sent % sockets.length]!,
          firstSentAt: now,
          sentAt: now,
          attempt: 0,
        });
      }
      if (elapsed >= command.durationMs) resolve();
      else setTimeout(tick, 5);
    };
    tick();
  });
  const offeredSeconds = (performance.now() - started) / 1000;
  const drainStarted = performance.now();
  while (waiting > 0 && performance.now() - drainStarted < command.drainTimeoutMs) await new Promise((resolve) => setTimeout(resolve, 20));
  const drainSeconds = (performance.now() - drainStarted) / 1000;
  for (const socket of sockets) socket.close();
  const sortedAccepted = Float64Array.from(accepted).sort();
  const sortedEnd = Float64Array.from(endToEnd).sort();
  return {
    offered: sent,
    offeredPerSecond: sent / offeredSeconds,
    answered: accepted.length,
    refusals: refused,
    failed,
    failures,
    unanswered: waiting,
    acceptedP50: percentile(sortedAccepted, 0.5),
    acceptedP99: percentile(sortedAccepted, 0.99),
    endToEndP50: percentile(sortedEnd, 0.5),
    endToEndP99: percentile(sortedEnd, 0.99),
    drainSeconds,
  };
}

/** Cuts `count` random live subscribers; with `resume` they come back and catch up from their last id. */
function drop(count: number) {
  const live = subscribers.filter((s) => s.live);
  for (let i = 0; i < count && live.length; i++) live.splice(Math.floor(Math.random() * live.length), 1)[0]!.ws?.terminate();
  return { dropped: Math.min(count, live.length + count) };
}

function close() {
  for (const conn of [...subscribers, ...senders]) {
    resume = false;
    conn.ws?.terminate();
  }
  subscribers = [];
  senders = [];
}

process.on('message', (message: { cmd: string; [key: string]: unknown }) => {
  const run = async () => {
    switch (message.cmd) {
      case 'connect':
        return connect(message as unknown as ConnectCommand);
      case 'step':
        return step(message as unknown as StepCommand);
      case 'storm-start':
        return stormStart(message.rate as number);
      case 'wait-live':
        return waitLive(message.timeoutMs as number);
      case 'storm-stop':
        return stormStop(message.timeoutMs as number);
      case 'mutation-path':
        return mutationPath(message as unknown as { url: string; tokens: string[]; durationMs: number });
      case 'overload':
        return overload(message as unknown as Parameters<typeof overload>[0]);
      case 'drop':
        return drop(message.count as number);
      case 'close':
        return close();
      case 'exit':
        close();
        setTimeout(() => process.exit(0), 50);
        return;
      default:
        throw new Error(`unknown command ${message.cmd}`);
    }
  };
  run().then(
    (result) => reply({ ok: true, result: result ?? null }),
    (error: unknown) => reply({ ok: false, error: String((error as Error)?.stack ?? error) }),
  );
});
reply({ ready: true });
