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

/** Databases with one connection, whose transactions run one at a time (PGlite's transaction lock). */
const oneTransactionAtATime = new WeakSet<Db>();

/** True when no two transactions of `db` can overlap, so locks between them protect nothing. */
export function runsOneTransactionAtATime(db: Db): boolean {
  return oneTransactionAtATime.has(db);
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
  const adapterFactory = new PrismaPGlite(new PipelinedPGlite(pglite) as unknown as PGlite);
  const prisma = new PrismaClient({ adapter: adapterFactory });
  oneTransactionAtATime.add(prisma);
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
