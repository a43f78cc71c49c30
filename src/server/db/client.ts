import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../../generated/prisma/client.ts';
import type { Config } from '../config.ts';
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

/** Databases with one connection, whose transactions run one at a time (PGlite's transaction lock), and that connection. */
const embedded = new WeakMap<Db, PipelinedPGlite>();

/** True when no two transactions of `db` can overlap, so locks between them protect nothing. */
export function runsOneTransactionAtATime(db: Db): boolean {
  return embedded.has(db);
}

/**
 * The embedded database under `db`, for a statement on the hot path that needs nothing
 * of Prisma's (events/commit-statement.ts): it runs as Prisma's own statements do, after any
 * open transaction. Undefined on a PostgreSQL server.
 */
export function embeddedDatabaseOf(db: Db): Pick<PipelinedPGlite, 'query'> | undefined {
  return embedded.get(db);
}

/** PostgreSQL servers under a Db: the pool Prisma's adapter runs on. */
const servers = new WeakMap<Db, pg.Pool>();

/**
 * The PostgreSQL server under `db`: the pool Prisma's adapter uses, for the hot path's
 * one statement (events/commit-statement.ts), sent without Prisma's batch transaction
 * around it. Undefined on the embedded database.
 */
export function serverDatabaseOf(db: Db): pg.Pool | undefined {
  return servers.get(db);
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
export async function openDatabase(config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR'>): Promise<Database> {
  if (config.DATABASE_URL) {
    // One pool for the database: Prisma's queries and the one-statement commits share it.
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL });
    // An idle client's error (the server restarting) must not end the process; the next query reconnects.
    pool.on('error', () => {});
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    servers.set(prisma, pool);
    // Migrations get a pool of their own, for their run only: the schema engine's advisory
    // lock must go with its connections when they close (see applyMigrations).
    const adapterFactory = new PrismaPg({ connectionString: config.DATABASE_URL });
    return {
      prisma,
      adapterFactory,
      kind: 'postgresql',
      async close() {
        await prisma.$disconnect();
        await pool.end();
      },
    };
  }
  const inMemory = config.DATA_DIR === 'memory://';
  if (!inMemory) await mkdir(config.DATA_DIR, { recursive: true });
  const pglite = inMemory ? new PGlite() : new PGlite(path.join(config.DATA_DIR, 'pglite'));
  // One trip into the engine per statement instead of six (see pglite-pipeline.ts).
  const pipelined = new PipelinedPGlite(pglite);
  const adapterFactory = new PrismaPGlite(pipelined as unknown as PGlite);
  const prisma = new PrismaClient({ adapter: adapterFactory });
  embedded.set(prisma, pipelined);
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
