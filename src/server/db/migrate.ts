import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { MigrationList } from '@prisma/schema-engine-wasm';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { projectRoot } from '../paths.ts';
import { openSchemaEngine } from './schema-engine.ts';

const prismaDir = path.join(projectRoot, 'prisma');
export const schemaPath = path.join(prismaDir, 'schema.prisma');
export const migrationsDir = path.join(prismaDir, 'migrations');
const noFilters = { externalTables: [], externalEnums: [] };

async function readSchema() {
  return { path: 'schema.prisma', content: await readFile(schemaPath, 'utf8') };
}

async function readMigrations(dir = migrationsDir): Promise<MigrationList> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const lockPath = path.join(dir, 'migration_lock.toml');
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: await readFile(lockPath, 'utf8').catch(() => null) },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      names.map(async (name) => ({
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(path.join(dir, name, 'migration.sql'), 'utf8').then(
            (sql) => ({ tag: 'ok' as const, value: sql }),
            (error: Error) => ({ tag: 'error' as const, value: error.message }),
          ),
        },
      })),
    ),
  };
}

/**
 * Applies the committed migrations that the database has not seen yet (recorded in
 * `_prisma_migrations`). With `closeConnections` (a PostgreSQL server), the connections
 * the engine opened are closed afterwards: the engine's own advisory lock stays held by
 * an idle pooled connection otherwise, and a node starting meanwhile waits on it for
 * the pool's 10-second idle timeout.
 */
export async function applyMigrations(adapterFactory: SqlMigrationAwareDriverAdapterFactory, { closeConnections = false } = {}): Promise<string[]> {
  const opened: SqlDriverAdapter[] = [];
  const factory: SqlMigrationAwareDriverAdapterFactory = closeConnections
    ? Object.assign(Object.create(adapterFactory) as SqlMigrationAwareDriverAdapterFactory, {
        connect: async () => {
          const adapter = await adapterFactory.connect();
          opened.push(adapter);
          return adapter;
        },
      })
    : adapterFactory;
  const engine = await openSchemaEngine(await readSchema(), factory);
  try {
    const { appliedMigrationNames } = await engine.applyMigrations({
      migrationsList: await readMigrations(),
      filters: noFilters,
    });
    return appliedMigrationNames;
  } finally {
    engine.free();
    await Promise.all(opened.map((adapter) => adapter.dispose()));
  }
}

/** Any 64-bit key of our own: Prisma's engine takes another one, with a 10 s timeout, inside. */
const MIGRATION_LOCK_KEY = 727_061_122;

/**
 * Runs `apply` holding a PostgreSQL session lock, so that nodes started together on one
 * server take turns: the second waits for the first's migrations (however long they
 * take) instead of failing on the engine's own 10-second lock timeout, then finds
 * nothing left to apply.
 */
export async function withMigrationLock<T>(databaseUrl: string, apply: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await apply();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

/**
 * The SQL that would bring the committed migrations up to `schema.prisma`, or null when they agree.
 * Runs on a throwaway in-memory PGlite, which also serves as the shadow database.
 */
export async function diffMigrationsToSchema(): Promise<string | null> {
  const pglite = new PGlite();
  const schema = await readSchema();
  const engine = await openSchemaEngine(schema, new PrismaPGlite(pglite));
  try {
    const migrations = await readMigrations();
    const result = await engine.diff({
      // The engine reads the connector from migration_lock.toml, which exists only once there is a migration.
      from: migrations.migrationDirectories.length ? { tag: 'migrations', ...migrations } : { tag: 'empty' },
      to: { tag: 'schemaDatamodel', files: [schema] },
      script: true,
      exitCode: true,
      filters: noFilters,
    });
    return result.exitCode === 2 ? (result.stdout ?? '') : null;
  } finally {
    engine.free();
    await pglite.close();
  }
}

/** Writes `prisma/migrations/<timestamp>_<name>/migration.sql` from the schema's drift, if any. */
export async function createMigration(name: string): Promise<string | null> {
  const sql = await diffMigrationsToSchema();
  if (sql === null) return null;
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const dirName = `${stamp}_${name.replace(/[^a-zA-Z0-9_]+/g, '_')}`;
  await mkdir(path.join(migrationsDir, dirName), { recursive: true });
  await writeFile(path.join(migrationsDir, dirName, 'migration.sql'), sql);
  await writeFile(
    path.join(migrationsDir, 'migration_lock.toml'),
    '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
  );
  return dirName;
}
