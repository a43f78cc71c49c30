import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/server/db/client.ts';
import { applyMigrations } from '../src/server/db/migrate.ts';
import { PipelinedPGlite } from '../src/server/db/pglite-pipeline.ts';

// The embedded database answers Prisma's statements in one trip each (pglite-pipeline.ts):
// what comes back must be what PGlite's own `query` returns.
describe('pipelined PGlite statements', () => {
  /** Two identical databases: one answers through PGlite's `query`, the other pipelined. */
  let reference: PGlite;
  let pglite: PGlite;
  let pipelined: PipelinedPGlite;
  const schema = `
    CREATE TABLE t (id serial PRIMARY KEY, name text, n int, big bigint, f double precision, ok boolean,
                    at timestamp(3), doc jsonb, tags text[], bytes bytea);
    CREATE TABLE u (name text PRIMARY KEY)`;

  beforeAll(async () => {
    reference = new PGlite();
    pglite = new PGlite();
    pipelined = new PipelinedPGlite(pglite);
    await reference.exec(schema);
    await pglite.exec(schema);
  });
  afterAll(async () => {
    await reference.close();
    await pglite.close();
  });

  const tricky = `O'Brien "quoted" \\ back, {braces} — ünïcödé ✓`;
  const cases: [string, string, unknown[]][] = [
    [
      'every parameter type, inserted and returned',
      'INSERT INTO t (name, n, big, f, ok, at, doc, tags, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *',
      [tricky, 42, 9007199254740993n, 1.5, true, new Date('2026-11-22T03:04:05.678Z'), { a: [1, 'x'], b: null }, ['a', tricky, 'NULL', '', null], new Uint8Array([0, 1, 254, 255])],
    ],
    [
      'nulls',
      'INSERT INTO t (name, n, big, f, ok, at, doc, tags, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *',
      ['nulls', null, null, null, false, null, null, null, null],
    ],
    ['a JSON text parameter', 'SELECT $1::jsonb AS doc', ['{"already":"text"}']],
    ['a list parameter', 'SELECT name FROM t WHERE name = ANY($1) ORDER BY name', [[tricky, 'nulls', 'missing']]],
    ['no parameters', 'SELECT count(*)::int AS c, now() > $1 AS later FROM t', [new Date(0)]],
    ['an update counts its rows', 'UPDATE t SET n = coalesce(n, 0) + $1', [1]],
    ['a delete counts its rows', 'DELETE FROM t WHERE name = $1', ['nobody']],
  ];

  it.each(cases)('%s', async (_name, sql, params) => {
    for (const rowMode of ['array', 'object'] as const) {
      const expected = await reference.query(sql, params, { rowMode });
      expect(await pipelined.query(sql, params, { rowMode })).toEqual(expected);
    }
  });

  it('prepares a statement once and binds it again with other values, through schema changes', async () => {
    const sql = 'SELECT name, n FROM t WHERE n = $1 ORDER BY id';
    await pipelined.query('INSERT INTO t (name, n) VALUES ($1, $2), ($3, $4)', ['first', 1001, 'second', 1002]);
    expect((await pipelined.query(sql, [1001])).rows).toEqual([{ name: 'first', n: 1001 }]);
    expect((await pipelined.query(sql, [1002])).rows).toEqual([{ name: 'second', n: 1002 }]);
    // PostgreSQL plans a prepared statement again when the tables under it change.
    await pglite.exec('ALTER TABLE t ADD COLUMN extra text; CREATE INDEX t_n ON t (n)');
    expect((await pipelined.query(sql, [1002])).rows).toEqual([{ name: 'second', n: 1002 }]);
    const { rows } = await pglite.query<{ count: number }>('SELECT count(*)::int AS count FROM pg_prepared_statements WHERE statement = $1', [sql]);
    expect(rows).toEqual([{ count: 1 }]);
  });

  it('rejects with the database error and keeps working, inside a transaction too', async () => {
    await pipelined.query('INSERT INTO u (name) VALUES ($1)', ['unique']);
    await expect(pipelined.query('INSERT INTO u (name) VALUES ($1)', ['unique'])).rejects.toMatchObject({ code: '23505' });
    // The same (prepared) statement again, after its failure.
    await pipelined.query('INSERT INTO u (name) VALUES ($1)', ['unique too']);
    await expect(pipelined.query('SELECT nope FROM u WHERE name = $1', ['x'])).rejects.toMatchObject({ code: '42703' });
    expect((await pipelined.query('SELECT count(*)::int AS c FROM u WHERE name = $1', ['unique'])).rows).toEqual([{ c: 1 }]);
    await expect(
      pipelined.transaction(async (tx) => {
        await tx.query('INSERT INTO u (name) VALUES ($1)', ['in a rolled back transaction']);
        await tx.query('INSERT INTO u (name) VALUES ($1)', ['unique']);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect((await pipelined.query('SELECT count(*)::int AS c FROM u WHERE name = $1', ['in a rolled back transaction'])).rows).toEqual([{ c: 0 }]);
  });

  it('waits for a transaction in progress instead of running inside it', async () => {
    let inserted!: () => void;
    const insertedInTransaction = new Promise<void>((resolve) => (inserted = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const transaction = pipelined.transaction(async (tx) => {
      await tx.query('INSERT INTO u (name) VALUES ($1)', ['uncommitted']);
      inserted();
      await released;
      await tx.rollback();
    });
    await insertedInTransaction;
    // Inside the open transaction this would count the uncommitted row.
    const outside = pipelined.query('SELECT count(*)::int AS c FROM u WHERE name = $1', ['uncommitted']);
    release();
    await transaction;
    expect((await outside).rows).toEqual([{ c: 0 }]);
  });

  it("surfaces through Prisma as Prisma's errors and values", async () => {
    const database = await openDatabase({ DATA_DIR: 'memory://' });
    try {
      await applyMigrations(database.adapterFactory);
      const org = await database.prisma.org.create({ data: { name: tricky } });
      expect(org.name).toBe(tricky);
      const user = { orgId: org.id, email: 'a@b.test', name: 'A', passwordHash: 'x' };
      await database.prisma.user.create({ data: user });
      await expect(database.prisma.user.create({ data: user })).rejects.toMatchObject({ code: 'P2002' });
      const escrow = await database.prisma.escrow.create({
        data: {
          orgId: org.id,
          createdById: 'u',
          updatedById: 'u',
          propertyAddress: tricky,
          purchasePriceCents: 123_456_789_012n,
          closingDate: new Date('2027-01-02T03:04:05.006Z'),
        },
      });
      expect(await database.prisma.escrow.findMany({ where: { id: { in: [escrow.id, 'other'] } } })).toEqual([escrow]);
    } finally {
      await database.close();
    }
  });
});
