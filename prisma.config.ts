import { defineConfig } from 'prisma/config';

// The Prisma CLI is used for `prisma generate` only; migrations are applied by
// src/server/db/migrate.ts through Prisma's wasm schema engine (no native engine
// can be downloaded here). On a machine with the normal CLI, DATABASE_URL makes
// `npx prisma migrate deploy` work on the same files.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  ...(process.env.DATABASE_URL ? { datasource: { url: process.env.DATABASE_URL } } : {}),
});
