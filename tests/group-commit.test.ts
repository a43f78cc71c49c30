import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../src/shared/events.ts';
import { GroupCommit, groupCommitOf } from '../src/server/events/group-commit.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

/**
 * Group commit (events/group-commit.ts): changes that arrive together commit as one
 * transaction, each keeps its own outcome, and a failing one fails alone. On PGlite, on a
 * PostgreSQL server and on two nodes sharing one.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.deps.db.$executeRawUnsafe('CREATE TABLE group_probe (n integer PRIMARY KEY, org text NOT NULL)');
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

const insert = (n: number, org: string) => ({ sql: 'INSERT INTO group_probe (n, org) VALUES ($1::integer, $2::text) RETURNING n', values: [n, org] });
const stored = async (from: number, to: number) =>
  (await t.deps.db.$queryRawUnsafe<{ n: number }[]>('SELECT n FROM group_probe WHERE n BETWEEN $1 AND $2 ORDER BY n', from, to)).map((row) => row.n);

describe('group commit', () => {
  it('commits changes of several orgs that arrive together as one batch, each answered with its own rows', async () => {
    const group = new GroupCommit(t.deps.db);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => group.commit(`org-${i % 3}`, insert(100 + i, `org-${i % 3}`))));
    expect(answers).toEqual(Array.from({ length: 10 }, (_, i) => [{ n: 100 + i }]));
    expect(group.stats).toEqual({ batches: 1, changes: 10 });
    expect(await stored(100, 109)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
  });

  it('runs a batch in the order the changes arrived: each sees the ones before it', async () => {
    const group = new GroupCommit(t.deps.db);
    const [, seen, , seenBoth] = await Promise.all([
      group.commit('a', insert(200, 'a')),
      group.commit('b', { sql: 'SELECT count(*)::integer AS count FROM group_probe WHERE n >= 200 AND n < 300', values: [] }),
      group.commit('c', insert(201, 'c')),
      group.commit('d', { sql: 'SELECT count(*)::integer AS count FROM group_probe WHERE n >= 200 AND n < 300', values: [] }),
    ]);
    expect(group.stats.batches).toBe(1);
    expect(seen).toEqual([{ count: 1 }]);
    expect(seenBoth).toEqual([{ count: 2 }]);
  });

  it('fails a failing change alone: the others of its batch commit, it gets its own error', async () => {
    await new GroupCommit(t.deps.db).commit('x', insert(300, 'x'));
    const group2 = new GroupCommit(t.deps.db);
    const outcomes = await Promise.allSettled([
      group2.commit('a', insert(301, 'a')),
      group2.commit('b', insert(302, 'b')),
      // The key is taken: a unique violation, mid-batch.
      group2.commit('x', insert(300, 'x')),
      group2.commit('c', insert(303, 'c')),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[2] as PromiseRejectedResult).reason)).toMatch(/duplicate key|unique/i);
    // The batch failed whole, then each of its changes ran alone.
    expect(group2.stats).toEqual({ batches: 5, changes: 8 });
    expect(await stored(300, 303)).toEqual([300, 301, 302, 303]);
  });

  it('starts a change that has waited already at once, without waiting for the rest of the turn', async () => {
    const group = new GroupCommit(t.deps.db);
    await Promise.all([group.commit('a', insert(400, 'a'), { atOnce: true }), group.commit('b', insert(401, 'b'), { atOnce: true })]);
    // Each went as soon as a slot was free: not together.
    expect(group.stats).toEqual({ batches: 2, changes: 2 });
    expect(await stored(400, 401)).toEqual([400, 401]);
  });

  it('commits concurrent record changes of several orgs through it, one event each, each org’s log without a gap', async () => {
    const before = t.apps.map((app) => ({ ...groupCommitOf(app.deps.db).stats }));
    const writers = (['alice@acme.test', 'bob@acme.test', 'carol@globex.test'] as const).map(async (email) => {
      const caller = await t.caller(email);
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async (_, lane) => {
          for (let i = 0; i < 5; i++) ids.push((await caller.leads.create({ name: `${email} ${lane}.${i}`, source: 'web' })).id);
        }),
      );
      return ids;
    });
    const ids = (await Promise.all(writers)).flat();
    expect(new Set(ids).size).toBe(60);

    for (const orgId of new Set(Object.values(t.users).map((user) => user.orgId))) {
      const events = await t.deps.db.event.findMany({ where: { orgId }, orderBy: { seq: 'asc' } });
      // Each event names the org's event before it: no gap, no two at one place.
      for (let i = 1; i < events.length; i++) expect(events[i]!.prevSeq).toBe(events[i - 1]!.seq);
      const created = events.filter((event) => event.action === 'created' && ids.includes(event.recordId));
      expect(created.length).toBe(new Set(created.map((event) => event.recordId)).size);
    }
    const created = await t.deps.db.event.count({ where: { action: 'created', recordId: { in: ids } } });
    expect(created).toBe(60);
    const grouped = t.apps.reduce((sum, app, i) => sum + groupCommitOf(app.deps.db).stats.changes - before[i]!.changes, 0);
    expect(grouped).toBe(60);
  });

  it('publishes each org’s events on the bus in seq order', async () => {
    const [acme, globex] = [t.users['alice@acme.test'].orgId, t.users['carol@globex.test'].orgId];
    const seen = new Map<string, LogEvent[]>([
      [acme, []],
      [globex, []],
    ]);
    const stop = new AbortController();
    const subscriptions = [acme, globex].map((orgId) => t.deps.bus.subscribe(orgId, { signal: stop.signal }));
    const reading = subscriptions.map(async (subscription, i) => {
      for await (const event of subscription) {
        const list = seen.get(i === 0 ? acme : globex)!;
        list.push(event);
        if (list.length === 20) return;
      }
    });
    await Promise.all(
      (['alice@acme.test', 'carol@globex.test'] as const).map(async (email) => {
        const caller = await t.caller(email);
        await Promise.all(
          Array.from({ length: 4 }, async (_, lane) => {
            for (let i = 0; i < 5; i++) await caller.leads.create({ name: `bus ${lane}.${i}`, source: 'web' });
          }),
        );
      }),
    );
    await Promise.all(reading);
    stop.abort();
    for (const events of seen.values()) {
      const seqs = events.map((event) => event.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(20);
    }
  });
});
