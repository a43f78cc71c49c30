import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { CrmEvent } from '../src/shared/events.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ perModule: 2 });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

/** Deterministic, so a failure can be replayed. */
function createRandom(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return { int: (max: number) => Math.floor(next() * max), pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]! };
}

const PATHS = [
  'jobs.create',
  'jobs.update',
  'jobs.delete',
  'jobs.byId',
  'leads.create',
  'clients.list',
  'events.onAny',
  'jobs.onChange',
  'auth.login',
  'auth.refresh',
  'nope',
  '__proto__.x',
  'constructor',
  '',
  'jobs',
  'events.since',
  'presence.view',
  'typing.start',
  'presence.onRecord',
  'messages.send',
];
/** Control characters PostgreSQL refuses (NUL) or that have no place in a line: refused as bad input, never an internal error. */
const CONTROL = '\u0000\u0001\u001b\u007f';
const METHODS = ['query', 'mutation', 'subscription', 'subscription.stop', 'connectionParams', 'reconnect', 'PING', 'bogus', null, 42];

/** One hostile frame: broken JSON, wrong shapes, wrong types, huge or deep values, unknown procedures, invalid inputs. */
function hostileFrame(random: ReturnType<typeof createRandom>, i: number): string {
  const id = random.pick([i, -i, `${i}`, null, { a: 1 }, 1e308, 'x'.repeat(2_000), true]);
  const badInput = random.pick<unknown>([
    null,
    42,
    'string',
    [],
    { title: '' },
    { title: 123 },
    { title: 'x'.repeat(20_000) },
    { id: 'nope', expectedVersion: 'one', patch: {} },
    { id: { $ne: null }, expectedVersion: 1, patch: { title: 'pwn' } },
    { __proto__: { admin: true }, title: 5 },
    { lastEventId: '-1' },
    { lastEventId: 'DROP TABLE "Event"' },
    { modules: ['users'] },
    { email: 'not-an-email', password: '' },
    { limit: 1e9 },
    { name: null },
    { title: `roof${CONTROL}` },
    { id: CONTROL, expectedVersion: 1, patch: { title: 'x' } },
    { id: `job${CONTROL}` },
    { module: 'jobs', recordId: CONTROL, field: 'title' },
    { lastEventId: '0', recordId: CONTROL },
    { conversationId: CONTROL, body: `hi${CONTROL}` },
    { search: `${CONTROL}%_\\` },
  ]);
  switch (random.int(12)) {
    case 0:
      return Array.from({ length: 1 + random.int(64) }, () => String.fromCharCode(random.int(0xffff))).join('');
    case 1:
      return '{"id":1,"method":"query","params":{"path":"auth.me"'; // truncated
    case 2:
      return JSON.stringify(random.pick([null, 1, 'text', [], [1, 2, 3], true]));
    case 3:
      return `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
    case 4:
      return JSON.stringify({ id, method: random.pick(METHODS), params: random.pick([null, 'x', [], { path: random.pick(PATHS) }]) });
    case 5:
      return JSON.stringify(Array.from({ length: 1 + random.int(50) }, (_, k) => ({ id: i * 100 + k, method: 'query', params: { path: random.pick(PATHS), input: badInput } })));
    case 6:
      return JSON.stringify({
        id: i,
        jsonrpc: random.pick(['2.0', '1.0', 5]),
        method: 'subscription',
        params: { path: random.pick(PATHS), input: badInput, lastEventId: random.pick([null, 'abc', '99999999999', {}]) },
      });
    case 7:
      return JSON.stringify({ id: random.pick([1, 2, 3]), method: 'subscription.stop' });
    case 8:
      return `{"id":${i},"method":"mutation","params":{"path":"${random.pick(PATHS)}","input":${JSON.stringify(badInput)}}}`;
    case 9:
      return JSON.stringify({ method: 'connectionParams', data: random.pick([null, { token: 'forged' }, 'x', { token: { $gt: '' } }]) });
    case 10:
      return JSON.stringify({
        id: i,
        method: 'query',
        params: {
          path: 'jobs.list',
          input: { limit: random.pick([0, -1, 201, 'ten', 5]), search: random.pick(['x'.repeat(random.int(500)), CONTROL, `a${CONTROL.slice(random.int(4))}`]) },
        },
      });
    default:
      return JSON.stringify({ id: i, method: 'mutation', params: { path: random.pick(['jobs.update', 'jobs.delete']), input: badInput } });
  }
}

/** Answers that were internal errors: hostile input must be refused as such, never reach the database. */
const internalErrors: string[] = [];

async function hostileSocket(random: ReturnType<typeof createRandom>, frames: number, start: number, token: string | null): Promise<number> {
  const url = token === null && random.int(2) === 0 ? t.server.wsUrl : `${t.server.wsUrl}?connectionParams=1`;
  const socket = new WebSocket(url);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  let probeAnswered: () => void = () => undefined;
  const probe = new Promise<void>((resolve) => (probeAnswered = resolve));
  socket.on('message', (data) => {
    const text = String(data);
    if (text.includes('"id":"probe"')) probeAnswered();
    if (text.includes('INTERNAL_SERVER_ERROR')) internalErrors.push(text.slice(0, 500));
  });
  await new Promise((resolve) => socket.once('open', resolve));
  if (token !== null) socket.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
  let sent = 0;
  for (let i = 0; i < frames && socket.readyState === WebSocket.OPEN; i++) {
    socket.send(hostileFrame(random, start + i));
    sent += 1;
  }
  if (token !== null && socket.readyState === WebSocket.OPEN) {
    // Messages are handled in order: an answer to this means every frame before it was dealt with.
    socket.send(JSON.stringify({ id: 'probe', method: 'query', params: { path: 'auth.me' } }));
    await Promise.race([probe, closed]);
  }
  socket.close();
  await closed;
  return sent;
}

async function orgSnapshot(orgId: string) {
  const db = t.deps.db;
  return {
    jobs: await db.job.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
    leads: await db.lead.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
    clients: await db.client.findMany({ where: { orgId }, orderBy: { id: 'asc' } }),
    events: await db.event.count({ where: { orgId } }),
    users: await db.user.count(),
  };
}

describe('fuzz', () => {
  it('10,000+ hostile frames change nothing, crash nothing, and do not disturb a well-behaved client', async () => {
    const random = createRandom(20261121);
    const carol = t.users['carol@globex.test'];
    const before = await orgSnapshot(carol.orgId);
    const carolsToken = await t.tokenFor('carol@globex.test');

    const reader = await t.client('bob@acme.test');
    const writer = await t.client('alice@acme.test');
    const received: CrmEvent[] = [];
    let started = false;
    reader.trpc.events.onAny.subscribe({}, { onStarted: () => (started = true), onData: ({ data }) => data.type !== 'RESYNC' && received.push(data) });
    await vi.waitFor(() => expect(started).toBe(true), { timeout: 5_000 });
    const written: string[] = [];
    let writing = true;
    // Well-behaved: when it writes faster than its connection's mutation limit, it waits as long as the server asks.
    const create = async (name: string): Promise<string> => {
      for (;;) {
        try {
          return (await writer.trpc.leads.create.mutate({ name })).id;
        } catch (error) {
          const refusal = (error as { data?: { code?: string; retryAfterMs?: number } }).data;
          if (refusal?.code !== 'TOO_MANY_REQUESTS' || refusal.retryAfterMs === undefined) throw error;
          await new Promise((resolve) => setTimeout(resolve, refusal.retryAfterMs));
        }
      }
    };
    const writes = (async () => {
      for (let i = 0; writing || i < 5; i++) written.push(await create(`steady ${i}`));
    })();

    let sent = 0;
    const workers = Array.from({ length: 4 }, async (_, w) => {
      for (let round = 0; sent < 10_000; round++) {
        const token = round % 5 === 4 ? null : carolsToken;
        sent += await hostileSocket(random, 250, (w * 1_000 + round) * 1_000, token);
      }
    });
    await Promise.all(workers);
    writing = false;
    await writes;

    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(internalErrors).toEqual([]);
    expect(await orgSnapshot(carol.orgId)).toEqual(before);
    await vi.waitFor(() => expect(received.map((event) => event.recordId)).toEqual(written), { timeout: 10_000 });
    expect((await fetch(`${t.server.url}/healthz`)).status).toBe(200);
    // Every hostile connection is gone and left nothing behind.
    await vi.waitFor(() => expect(t.server.connectionCount()).toBe(2), { timeout: 5_000 });
    expect(t.deps.bus.listenerCount(carol.orgId)).toBe(0);
  }, 120_000);
});
