import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/server/db/client.ts';
import { readEventsAfter, readLogBounds } from '../src/server/events/log.ts';
import { ReplayCache } from '../src/server/events/replay-cache.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
let orgId: string;
let otherOrgId: string;

beforeAll(async () => {
  t = await createTestApp();
  orgId = t.users['alice@acme.test'].orgId;
  otherOrgId = t.users['carol@globex.test'].orgId;
  await addLeads('alice@acme.test', 30);
  await addLeads('carol@globex.test', 3);
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

async function addLeads(email: 'alice@acme.test' | 'carol@globex.test', count: number) {
  const caller = await t.caller(email);
  for (let i = 0; i < count; i++) await caller.leads.create({ name: `Lead ${i}`, source: 'web' } as never);
}

/** The database, counting the log reads that go through it. */
function countingReads(db: Db) {
  const reads: { afterSeq: number }[] = [];
  const event = new Proxy(db.event, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property !== 'findMany' || typeof value !== 'function') return value;
      return (args: { where: { seq: { gt: number } } }) => {
        reads.push({ afterSeq: args.where.seq.gt });
        return (value as (args: unknown) => unknown).call(target, args);
      };
    },
  });
  return { db: new Proxy(db, { get: (target, property) => (property === 'event' ? event : Reflect.get(target, property, target)) }), reads };
}

const head = async (id = orgId) => (await readLogBounds(t.deps.db, id)).headSeq;
const fromLog = (afterSeq: number, limit = 500, id = orgId) => readEventsAfter(t.deps.db, { orgId: id, afterSeq, limit });

describe('replay cache', () => {
  it('replays what the log holds, and the next resumes of the org without reading it again', async () => {
    const { db, reads } = countingReads(t.deps.db);
    const cache = new ReplayCache(db);
    const all = await fromLog(0);
    const position = all[10]!.seq;
    expect(await cache.read(orgId, position, await head(), 500)).toEqual(all.slice(11));
    expect(reads).toHaveLength(1);
    // Later positions, and the head itself, from memory.
    for (const index of [11, 20, all.length - 1]) expect(await cache.read(orgId, all[index]!.seq, await head(), 500)).toEqual(all.slice(index + 1));
    expect(await cache.read(orgId, all[20]!.seq, await head(), 3)).toEqual(all.slice(21, 24));
    expect(reads).toHaveLength(1);
    // An earlier position reads the log, and is kept from then on.
    expect(await cache.read(orgId, all[2]!.seq, await head(), 500)).toEqual(all.slice(3));
    expect(await cache.read(orgId, all[5]!.seq, await head(), 500)).toEqual(all.slice(6));
    expect(reads).toHaveLength(2);
    // Shared: each event's frame is serialized once for every subscriber it is replayed to.
    expect(Object.isFrozen((await cache.read(orgId, position, await head(), 1))[0])).toBe(true);
  });

  it('reads only what was committed since, once for replays that wait together', async () => {
    const { db, reads } = countingReads(t.deps.db);
    const cache = new ReplayCache(db);
    const before = await fromLog(0);
    const position = before.at(-5)!.seq;
    await cache.read(orgId, position, await head(), 500);
    await addLeads('alice@acme.test', 4);
    const newHead = await head();
    const replays = await Promise.all([cache.read(orgId, position, newHead, 500), cache.read(orgId, before.at(-1)!.seq, newHead, 500)]);
    const after = await fromLog(position);
    expect(replays[0]).toEqual(after);
    expect(replays[1]).toEqual(after.slice(4));
    expect(replays[1]).toHaveLength(4);
    expect(reads.map((read) => read.afterSeq)).toEqual([position, before.at(-1)!.seq]);
  });

  it('keeps each org to itself, and at most so many events and orgs', async () => {
    const { db, reads } = countingReads(t.deps.db);
    const cache = new ReplayCache(db, { maxEvents: 5, maxOrgs: 1, idleMs: 60_000 });
    const all = await fromLog(0);
    expect(await cache.read(orgId, all[0]!.seq, await head(), 500)).toEqual(all.slice(1));
    expect(cache.size).toEqual({ orgs: 1, events: 5 });
    // Trimmed to the newest five: a position before them reads the log.
    expect(await cache.read(orgId, all.at(-6)!.seq, await head(), 500)).toEqual(all.slice(-5));
    expect(reads).toHaveLength(1);
    expect(await cache.read(orgId, all.at(-7)!.seq, await head(), 500)).toEqual(all.slice(-6));
    expect(reads).toHaveLength(2);
    const other = await fromLog(0, 500, otherOrgId);
    expect(await cache.read(otherOrgId, 0, await head(otherOrgId), 500)).toEqual(other);
    expect(other.every((event) => event.orgId === otherOrgId)).toBe(true);
    // One org at most: the other one's events were let go.
    expect(cache.size).toEqual({ orgs: 1, events: other.length });
  });

  it('lets an org go once nobody replayed from it for a while', async () => {
    // Every read first forgets what has been idle longer than idleMs: here, anything read before.
    const cache = new ReplayCache(t.deps.db, { maxEvents: 100, maxOrgs: 10, idleMs: -1 });
    await cache.read(orgId, 0, await head(), 500);
    expect(cache.size.orgs).toBe(1);
    await cache.read(otherOrgId, 0, await head(otherOrgId), 500);
    expect(cache.size.orgs).toBe(1);
  });
});

describe('resumes through the API', () => {
  it('replay from the cache the same events as the log, filtered per subscription', async () => {
    const alice = await t.caller('alice@acme.test');
    await alice.jobs.create({ title: 'Not a lead' });
    const all = await fromLog(0);
    const position = all.at(-8)!.seq;
    const resume = async (input: { modules?: ('leads' | 'jobs')[] }, count: number) => {
      const out: unknown[] = [];
      for await (const item of await alice.events.onAny({ ...input, lastEventId: String(position) })) {
        out.push((item as unknown as [string, unknown])[1]);
        if (out.length === count) break;
      }
      return out;
    };
    expect(await resume({}, 7)).toEqual(all.slice(-7));
    // On the node that served it (two in the multinode project).
    expect(t.apps.some((app) => app.deps.replays.size.orgs > 0)).toBe(true);
    // Another filter over the same stretch, from memory: only what it asks for.
    const leads = all.slice(-7).filter((event) => event.module === 'leads');
    expect(leads).toHaveLength(6);
    await alice.leads.create({ name: 'After the stretch', source: 'web' } as never);
    const resumed = await resume({ modules: ['leads'] }, 7);
    expect(resumed.slice(0, 6)).toEqual(leads);
    expect(resumed[6]).toMatchObject({ module: 'leads', data: { name: 'After the stretch' } });
  });
});
