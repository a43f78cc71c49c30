import { PrismaPg } from '@prisma/adapter-pg';
import { readConfig } from '../config.ts';
import { openDatabase } from './client.ts';
import { applyMigrations, createMigration, withMigrationLock } from './migrate.ts';

// `npm run db:migrate` applies the committed migrations to the configured database;
// `npm run db:new-migration -- <name>` writes a new one from schema.prisma.
const [command, name] = process.argv.slice(2);

if (command === 'new') {
  if (!name) throw new Error('Usage: npm run db:new-migration -- <name>');
  const created = await createMigration(name);
  console.log(created ? `Created prisma/migrations/${created}` : 'schema.prisma and the migrations agree: nothing to create');
} else {
  const config = readConfig();
  const db = await openDatabase(config);
  try {
    const url = config.DATABASE_URL;
    const applied = url
      ? await withMigrationLock(url, () => applyMigrations(new PrismaPg({ connectionString: url }), { closeConnections: true }))
      : await applyMigrations(db.adapterFactory);
    console.log(applied.length ? `Applied ${applied.join(', ')}` : 'The database is up to date');
  } finally {
    await db.close();
  }
}
