import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { openPGlite } from '../src/server/db/pglite-open.ts';

const root = mkdtempSync(path.join(tmpdir(), 'tandem-pglite-open-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// How the embedded database is opened small (db/pglite-open.ts); the bench measures the memory.
describe('opening the embedded database', () => {
  it('creates a new directory apart, opens it with the configured page cache, and keeps what was written', async () => {
    const dir = path.join(root, 'data', 'pglite');
    const db = await openPGlite(dir, { sharedBuffersMb: 16 });
    expect((await db.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]!.shared_buffers).toBe('16MB');
    await db.exec('CREATE TABLE kept (name text); INSERT INTO kept VALUES ($$written$$)');
    await db.close();

    const again = await openPGlite(dir, { sharedBuffersMb: 32 });
    expect((await again.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]!.shared_buffers).toBe('32MB');
    expect((await again.query<{ name: string }>('SELECT name FROM kept')).rows).toEqual([{ name: 'written' }]);
    await again.close();

    // Where PGlite 0.3 kept its data (its default database), so that folders it wrote are read.
    const asWritten = new PGlite(dir, { database: 'template1' });
    expect((await asWritten.query<{ name: string }>('SELECT name FROM kept')).rows).toEqual([{ name: 'written' }]);
    await asWritten.close();
  });

  it('says which directory it could not create, and leaves the path as it was', async () => {
    // A file where the database's directory should be: initdb fails in its own process.
    const file = path.join(root, 'not-a-directory');
    writeFileSync(file, 'kept');
    await expect(openPGlite(file, {})).rejects.toThrow(`could not create the embedded database in ${file}`);
    expect(readFileSync(file, 'utf8')).toBe('kept');
  });
});
