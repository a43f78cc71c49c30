import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../../generated/prisma/client.ts';
import type { Config } from '../config.ts';
import { openPGlite } from './pglite-open.ts';
import { PipelinedPGlite } from './pglite-pipeline.ts';

export type Db = InstanceType<typeof PrismaClient>;
/** What a transaction callback receives: the same model delegates without `$transaction`. */
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

export interface Database {
  prisma: Db;
  /** For the schema engine (migrations). */
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  kind: 'pglite' | 'postgresql';
  close(): Promise<void>;
}

/** Databases with one connection, whose transactions run one at a time (PGlite's transaction lock). */
const embedded = new WeakSet<Db>();

/** True when no two transactions of `db` can overlap, so locks between them protect nothing. */
export function runsOneTransactionAtATime(db: Db): boolean {
  return embedded.has(db);
}

/** A statement sent without Prisma: SQL with `$n` parameters (cast in the SQL where the type matters). */
export interface Statement {
  sql: string;
  values: readonly unknown[];
}

/**
 * Statements run as ONE transaction, in as few trips as the driver allows: the rows of
 * each, in order; or, when one fails, that error and none of them applied. Each sees the
 * ones before it. Timestamps read as UTC (as Prisma reads them).
 */
export interface StatementBatches {
  run(statements: readonly Statement[]): Promise<unknown[][]>;
  /** How many batches may run at once (each on a connection of its own). */
  parallel: number;
}

const batchesByDb = new WeakMap<Db, StatementBatches>();

/**
 * For the hot path's statements, sent without Prisma (events/group-commit.ts). On
 * PGlite: one trip into the engine, after any open transaction of Prisma's. On a
 * PostgreSQL server: BEGIN, the statements and COMMIT pipelined on a connection of a
 * small pool of their own, one round trip.
 */
export function statementBatchesOf(db: Db): StatementBatches {
  const batches = batchesByDb.get(db);
  if (!batches) throw new Error('Not a database opened by openDatabase');
  return batches;
}

/**
 * `timestamp` columns hold UTC, as Prisma writes and reads them; `pg` and PGlite would
 * read them in the process's time zone. For statements sent without Prisma.
 */
export const TIMESTAMP_OID = pg.types.builtins.TIMESTAMP;
export function parseUtcTimestamp(value: string): Date {
  return new Date(`${value.replace(' ', 'T')}Z`);
}

/** Type parsers for a query sent straight through `pg`: Prisma's adapter gives its own with each of its queries. */
export const UTC_TIMESTAMPS = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMP_OID && format !== 'binary') return parseUtcTimestamp;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/**
 * PostgreSQL either way: a server when `DATABASE_URL` is set, otherwise the embedded
 * PGlite, kept in `DATA_DIR/pglite` (or in memory for tests: `dataDir: 'memory://'`).
 */
export async function openDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR'> & Partial<Pick<Config, 'PGLITE_SHARED_BUFFERS_MB' | 'PGLITE_OPTIMIZING_COMPILER'>>,
): Promise<Database> {
  if (config.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL });
    // Group commits pipeline their statements, which a connection Prisma also uses must not do.
    const commitPool = new pg.Pool({ connectionString: config.DATABASE_URL, pipeline: true, max: COMMIT_CONNECTIONS } as pg.PoolConfig);
    // An idle client's error (the server restarting) must not end the process; the next query reconnects.
    pool.on('error', () => {});
    commitPool.on('error', () => {});
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    batchesByDb.set(prisma, { run: (statements) => runPipelinedTransaction(commitPool, statements), parallel: COMMIT_CONNECTIONS });
    // Migrations get a pool of their own, for their run only: the schema engine's advisory
    // lock must go with its connections when they close (see applyMigrations).
    const adapterFactory = new PrismaPg({ connectionString: config.DATABASE_URL });
    return {
      prisma,
      adapterFactory,
      kind: 'postgresql',
      async close() {
        await prisma.$disconnect();
        await Promise.all([pool.end(), commitPool.end()]);
      },
    };
  }
  const pglite = await openPGlite(config.DATA_DIR === 'memory://' ? 'memory://' : path.join(config.DATA_DIR, 'pglite'), {
    sharedBuffersMb: config.PGLITE_SHARED_BUFFERS_MB,
    optimizingCompiler: config.PGLITE_OPTIMIZING_COMPILER,
  });
  // One trip into the engine per statement instead of six (see pglite-pipeline.ts).
  const pipelined = new PipelinedPGlite(pglite);
  const adapterFactory = new PrismaPGlite(pipelined as unknown as PGlite);
  const prisma = new PrismaClient({ adapter: adapterFactory });
  embedded.add(prisma);
  batchesByDb.set(prisma, {
    run: async (statements) => (await pipelined.batch(statements.map(({ sql, values }) => ({ sql, params: values, options: UTC_PARSERS })))).map((result) => result.rows),
    parallel: 1,
  });
  return {
    prisma,
    adapterFactory,
    kind: 'pglite',
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}

/** PGlite's options for reading `timestamp` as UTC. */
const UTC_PARSERS = { parsers: { [TIMESTAMP_OID]: parseUtcTimestamp } };

/**
 * Connections for group commits on a PostgreSQL server, so as many batches at once
 * (see `statementBatchesOf`).
 */
const COMMIT_CONNECTIONS = 2;

/**
 * Prepared statement names by SQL text, shared by the commit connections (pg prepares a
 * name on each connection the first time it runs there). The cap bounds what distinct
 * texts can hold; past it statements go unnamed.
 */
const statementNames = new Map<string, string>();
const MAX_NAMED_STATEMENTS = 500;

function nameOf(sql: string): string | undefined {
  let name = statementNames.get(sql);
  if (!name && statementNames.size < MAX_NAMED_STATEMENTS) statementNames.set(sql, (name = `tandem_commit_${statementNames.size + 1}`));
  return name;
}

/** BEGIN, the statements and COMMIT written at once on one pipelined connection: one round trip. */
async function runPipelinedTransaction(pool: pg.Pool, statements: readonly Statement[]): Promise<unknown[][]> {
  const client = await pool.connect();
  let failed = true;
  try {
    const begin = client.query('BEGIN');
    const results = statements.map(({ sql, values }) => client.query({ name: nameOf(sql), text: sql, values: values as unknown[], types: UTC_TIMESTAMPS }));
    const commit = client.query('COMMIT');
    // After a failure the ones behind it fail too ("transaction is aborted") and COMMIT rolls back.
    const settled = await Promise.allSettled([begin, ...results, commit]);
    const error = settled.find((outcome) => outcome.status === 'rejected');
    if (error) throw error.reason;
    failed = false;
    return settled.slice(1, -1).map((outcome) => (outcome as PromiseFulfilledResult<pg.QueryResult>).value.rows);
  } finally {
    // A connection where something failed is closed: statements written behind the failure
    // were not prepared, though pg counts them as prepared on that connection.
    client.release(failed);
  }
}
