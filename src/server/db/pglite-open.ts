import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';

const run = promisify(execFile);

export interface PGliteSettings {
  /** PostgreSQL's `shared_buffers`, in MB; absent: PGlite's default (128). */
  sharedBuffersMb?: number;
  /** Let V8 recompile the engine's hot functions with its optimizing compiler. */
  optimizingCompiler?: boolean;
}

/**
 * Opens the embedded database in `dir` (`memory://`: in memory), as small as it can be
 * kept. Three things make up most of an idle embedded server's memory, measured on the
 * demo data (docs/OPERATIONS.md):
 * - PGlite keeps all of `shared_buffers` resident (128 MB by default);
 * - V8 keeps both compilations of the engine's hot functions (its baseline, Liftoff, and its
 *   optimizing one), about 100 MB; Liftoff alone cost about 3 % of commit CPU;
 * - creating a database (initdb) grows the engine's memory to about 800 MB, which the
 *   process does not give back (nor, fully, when a worker thread did it), so a new
 *   directory is created by a short-lived process of its own.
 */
export async function openPGlite(dir: string, settings: PGliteSettings): Promise<PGlite> {
  // Process-wide, and read when a module is compiled: the engine compiles below.
  setFlagsFromString(settings.optimizingCompiler ? '--no-liftoff-only' : '--liftoff-only');
  const startParams = [...PGlite.defaultStartParams, ...(settings.sharedBuffersMb ? ['-c', `shared_buffers=${settings.sharedBuffersMb}MB`] : [])];
  // PGlite 0.3 kept the data in `template1`, its default database then (0.4's is `postgres`):
  // folders written before stay where they were.
  const options = { startParams, database: 'template1' };
  if (dir === 'memory://') return new PGlite(options);
  await mkdir(path.dirname(dir), { recursive: true });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) await createApart(dir);
  return new PGlite(dir, options);
}

/** Runs initdb for `dir` in a process of its own, whose memory goes back to the system when it ends. */
async function createApart(dir: string): Promise<void> {
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script = `const { PGlite } = require(${JSON.stringify(pglite)});
    (async () => { const db = new PGlite(process.argv[1]); await db.waitReady; await db.close(); })();`;
  try {
    await run(process.execPath, ['--liftoff-only', '-e', script, dir]);
  } catch (error) {
    throw new Error(`could not create the embedded database in ${dir}`, { cause: error });
  }
}
