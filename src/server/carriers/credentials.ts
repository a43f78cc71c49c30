import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A key that seals carrier credentials: `id` is stored with each sealed secret, so old keys still open theirs. */
export interface CredentialKey {
  id: string;
  key: Buffer;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * Carrier credentials at rest: AES-256-GCM under the first key, opened with whichever key
 * sealed them. The org's id is bound in as associated data: a sealed secret copied into
 * another org's row does not open. Rotation: add the new key after the current one on every
 * node, then move it first (new rows and `rekey` use it), then drop the old one once no row
 * names it (`carrier_credentials_keys` in the log at start says which are still used).
 */
export class CredentialBox {
  readonly #keys: Map<string, Buffer>;
  readonly currentKeyId: string;

  constructor(keys: CredentialKey[]) {
    if (!keys.length) throw new Error('CredentialBox needs at least one key');
    this.#keys = new Map(keys.map((entry) => [entry.id, entry.key]));
    this.currentKeyId = keys[0]!.id;
  }

  seal(orgId: string, credentials: object): { secret: string; keyId: string } {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.currentKeyId)!, iv);
    cipher.setAAD(Buffer.from(orgId));
    const sealed = Buffer.concat([cipher.update(JSON.stringify(credentials), 'utf8'), cipher.final()]);
    return { secret: [iv, cipher.getAuthTag(), sealed].map((part) => part.toString('base64url')).join('.'), keyId: this.currentKeyId };
  }

  /** The credentials, or an error naming the missing key (the row is kept; a node with the key can still read it). */
  open(orgId: string, row: { secret: string; keyId: string }): unknown {
    const key = this.#keys.get(row.keyId);
    if (!key) throw new Error(`Carrier credentials sealed with key "${row.keyId}", which CARRIER_KEYS does not hold`);
    const [iv, tag, sealed] = row.secret.split('.').map((part) => Buffer.from(part, 'base64url'));
    if (!iv || !tag || !sealed) throw new Error('Carrier credentials are malformed');
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(orgId));
    decipher.setAuthTag(tag);
    return JSON.parse(Buffer.concat([decipher.update(sealed), decipher.final()]).toString('utf8'));
  }

  holds(keyId: string): boolean {
    return this.#keys.has(keyId);
  }
}

/** `CARRIER_KEYS`: `id:base64key,id:base64key` (32-byte keys; the first seals). */
export function parseCarrierKeys(value: string): CredentialKey[] | { error: string } {
  const keys: CredentialKey[] = [];
  for (const entry of value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const at = entry.indexOf(':');
    const id = entry.slice(0, at);
    const key = Buffer.from(entry.slice(at + 1), 'base64');
    if (at < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) return { error: `each key is id:base64 with an id of letters, digits, _ or - (got "${entry.slice(0, 12)}…")` };
    if (key.length !== KEY_BYTES) return { error: `key "${id}" must be ${KEY_BYTES} bytes in base64 (openssl rand -base64 32)` };
    if (keys.some((known) => known.id === id)) return { error: `key id "${id}" appears twice` };
    keys.push({ id, key });
  }
  return keys.length ? keys : { error: 'no key given' };
}

/**
 * The configured keys, or one generated on first start and kept in the data folder (mode
 * 0600), as the token secret is: enough for one machine; a deployment sets CARRIER_KEYS
 * from its secret store so that the database alone does not reveal the credentials.
 */
export async function loadCredentialBox(configured: CredentialKey[] | undefined, dataDir: string): Promise<CredentialBox> {
  if (configured?.length) return new CredentialBox(configured);
  if (dataDir === 'memory://') return new CredentialBox([{ id: 'memory', key: randomBytes(KEY_BYTES) }]);
  const file = path.join(dataDir, 'carrier-key');
  const existing = await readFile(file, 'utf8').catch(() => null);
  const parsed = existing ? parseCarrierKeys(existing.trim()) : null;
  if (parsed && !('error' in parsed)) return new CredentialBox(parsed);
  const key = { id: 'local', key: randomBytes(KEY_BYTES) };
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${key.id}:${key.key.toString('base64')}`, { mode: 0o600 });
  return new CredentialBox([key]);
}
