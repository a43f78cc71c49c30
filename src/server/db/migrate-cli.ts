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
    const migrate = () => applyMigrations(db.adapterFactory);
    const applied = config.DATABASE_URL ? await withMigrationLock(config.DATABASE_URL, migrate) : await migrate();
    console.log(applied.length ? `Applied ${applied.join(', ')}` : 'The database is up to date');
  } finally {
    await db.close();
  }
}
