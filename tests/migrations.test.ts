import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { describe, expect, it } from 'vitest';
import { applyMigrations, diffMigrationsToSchema } from '../src/server/db/migrate.ts';

describe('migrations', () => {
  it('agree with schema.prisma (run `npm run db:new-migration -- <name>` when this fails)', async () => {
    expect(await diffMigrationsToSchema()).toBeNull();
  });

  it('apply once through the schema engine and are recorded', async () => {
    const pglite = new PGlite();
    try {
      const applied = await applyMigrations(new PrismaPGlite(pglite));
      expect(applied.length).toBeGreaterThan(0);
      expect(await applyMigrations(new PrismaPGlite(pglite))).toEqual([]);
      const { rows } = await pglite.query<{ migration_name: string }>('SELECT migration_name FROM _prisma_migrations ORDER BY migration_name');
      expect(rows.map((row) => row.migration_name)).toEqual(applied);
      const tables = await pglite.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
      expect(tables.rows.map((row) => row.table_name)).toEqual(expect.arrayContaining(['Appointment', 'Client', 'Escrow', 'Event', 'Job', 'Lead', 'Listing', 'Org', 'User']));
    } finally {
      await pglite.close();
    }
  });
});
