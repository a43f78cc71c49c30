import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CredentialBox, loadCredentialBox, parseCarrierKeys } from '../src/server/carriers/credentials.ts';
import { Carriers } from '../src/server/carriers/service.ts';
import { createLogger } from '../src/server/logger.ts';
import { createTestApp } from './helpers/app.ts';

const key = (id: string, fill: number) => ({ id, key: Buffer.alloc(32, fill) });
const TOKEN = 'abcdefabcdefabcdefabcdefabcdef12';

describe('carrier credentials at rest', () => {
  it('open only under the key that sealed them and for the org they were sealed for', () => {
    const box = new CredentialBox([key('a', 1)]);
    const sealed = box.seal('org-1', { authToken: TOKEN });
    expect(sealed.keyId).toBe('a');
    expect(sealed.secret).not.toContain(TOKEN);
    expect(box.open('org-1', sealed)).toEqual({ authToken: TOKEN });
    // Copied into another org's row, the secret does not open (the org is bound in).
    expect(() => box.open('org-2', sealed)).toThrow();
    expect(() => new CredentialBox([key('a', 2)]).open('org-1', sealed)).toThrow();
    expect(() => new CredentialBox([key('b', 1)]).open('org-1', sealed)).toThrow(/key "a", which CARRIER_KEYS does not hold/);
    const tampered = { ...sealed, secret: sealed.secret.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A')) };
    expect(() => box.open('org-1', tampered)).toThrow();
  });

  it('reads CARRIER_KEYS and says what is wrong with a bad one', () => {
    const good = `new:${Buffer.alloc(32, 9).toString('base64')},old:${Buffer.alloc(32, 8).toString('base64')}`;
    expect(parseCarrierKeys(good)).toEqual([key('new', 9), key('old', 8)]);
    expect(parseCarrierKeys('nokey')).toMatchObject({ error: expect.stringMatching(/id:base64/) });
    expect(parseCarrierKeys(`a:${Buffer.alloc(16).toString('base64')}`)).toMatchObject({ error: expect.stringMatching(/32 bytes/) });
    expect(parseCarrierKeys(`a:${Buffer.alloc(32).toString('base64')},a:${Buffer.alloc(32).toString('base64')}`)).toMatchObject({ error: expect.stringMatching(/twice/) });
  });

  it('keeps the generated key of a data folder across starts, readable by its owner only', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tandem-carrier-key-'));
    try {
      const first = await loadCredentialBox(undefined, dir);
      const sealed = first.seal('org', { authToken: TOKEN });
      const again = await loadCredentialBox(undefined, dir);
      expect(again.open('org', sealed)).toEqual({ authToken: TOKEN });
      expect((await stat(path.join(dir, 'carrier-key'))).mode & 0o777).toBe(0o600);
      expect(await readFile(path.join(dir, 'carrier-key'), 'utf8')).toMatch(/^local:/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rotate without downtime: a node with the new key first seals old rows again, and then the old key can go', async () => {
    await using t = await createTestApp();
    const options = { sendTimeoutMs: 1_000 };
    const logger = createLogger('silent');
    const old = new Carriers(t.deps.db, new CredentialBox([key('old', 1)]), options, logger);
    const connected = await old.connect(t.users['alice@acme.test'], { kind: 'twilio', channels: ['sms'], accountSid: `AC${'0'.repeat(32)}`, authToken: TOKEN });
    // Step 1 (every node): the new key added after the old one; nothing changes yet, both open it.
    const both = new Carriers(t.deps.db, new CredentialBox([key('old', 1), key('new', 2)]), options, logger);
    expect(await both.rekey()).toBe(0);
    // Step 2: the new key first; at start each node seals what the old key sealed under the new one.
    const rotated = new Carriers(t.deps.db, new CredentialBox([key('new', 2), key('old', 1)]), options, logger);
    expect(await rotated.rekey()).toBe(1);
    expect(await t.deps.db.carrier.findUniqueOrThrow({ where: { id: connected.id } })).toMatchObject({ keyId: 'new' });
    // Step 3: the old key dropped; the row still opens.
    const after = new Carriers(t.deps.db, new CredentialBox([key('new', 2)]), options, logger);
    expect((await after.open(connected.id))?.webhookSecret).toBe(TOKEN);
    expect((await new Carriers(t.deps.db, new CredentialBox([key('old', 1)]), options, logger).open(connected.id))?.webhookSecret).toBeUndefined();
  });
});
