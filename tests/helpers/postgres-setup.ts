import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the PostgreSQL server of the `postgres` test project; each test file creates its own database in it. */
    postgresUrl: string;
  }
}

/** Starts one PostgreSQL server for the `postgres` project's run and stops it afterwards. */
export default async function setup(project: TestProject) {
  const server = await startPostgres();
  project.provide('postgresUrl', server.url());
  return () => server.stop();
}
