import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
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
 * of Prisma's (records/statements.ts): it runs as Prisma's own statements do, after any
 * open transaction. Undefined on a PostgreSQL server.
 */
export function embeddedDatabaseOf(db: Db): Pick<PipelinedPGlite, 'query'> | undefined {
  return embedded.get(db);
}

/**
 * PostgreSQL either way: a server when `DATABASE_URL` is set, otherwise the embedded
 * PGlite, kept in `DATA_DIR/pglite` (or in memory for tests: `dataDir: 'memory://'`).
 */
export async function openDatabase(config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR'>): Promise<Database> {
  if (config.DATABASE_URL) {
    const adapterFactory = new PrismaPg({ connectionString: config.DATABASE_URL });
    const prisma = new PrismaClient({ adapter: adapterFactory });
    return { prisma, adapterFactory, kind: 'postgresql', close: () => prisma.$disconnect() };
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
