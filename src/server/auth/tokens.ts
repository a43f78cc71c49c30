import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errors, jwtVerify, SignJWT } from 'jose';

export interface TokenClaims {
  userId: string;
  orgId: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface TokenService {
  sign(claims: { userId: string; orgId: string }): Promise<{ token: string; expiresAt: number }>;
  /** The claims of a valid, unexpired token, or null. */
  verify(token: string): Promise<TokenClaims | null>;
}

const ISSUER = 'tandem';

/** HS256 tokens (JWT) signed with the server's secret. */
export function createTokenService(secretBytes: Uint8Array, ttlSeconds: number): TokenService {
  // A WebCrypto key: raw bytes fail jose's `instanceof Uint8Array` check across realms (a DOM
  // test environment replaces the globals and selects jose's web build); a CryptoKey works in both.
  const secret = webcrypto.subtle.importKey('raw', Buffer.from(secretBytes), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  return {
    async sign({ userId, orgId }) {
      const expiresAtSeconds = Math.floor(Date.now() / 1000) + ttlSeconds;
      const token = await new SignJWT({ org: orgId })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime(expiresAtSeconds)
        .sign(await secret);
      return { token, expiresAt: expiresAtSeconds * 1000 };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, await secret, { issuer: ISSUER, algorithms: ['HS256'] });
        if (typeof payload.sub !== 'string' || typeof payload.org !== 'string' || typeof payload.exp !== 'number') return null;
        return { userId: payload.sub, orgId: payload.org, expiresAt: payload.exp * 1000 };
      } catch (error) {
        if (error instanceof errors.JOSEError) return null;
        throw error;
      }
    },
  };
}

/**
 * The configured secret, or one generated on first start and kept in the data folder
 * (mode 0600) so that tokens survive a restart. Never logged.
 */
export async function loadTokenSecret(configured: string | undefined, dataDir: string): Promise<Uint8Array> {
  if (configured) return Buffer.from(configured, 'utf8');
  if (dataDir === 'memory://') return randomBytes(32);
  const file = path.join(dataDir, 'token-secret');
  const existing = await readFile(file, 'utf8').catch(() => null);
  if (existing && existing.trim().length >= 32) return Buffer.from(existing.trim(), 'utf8');
  const secret = randomBytes(48).toString('base64url');
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, secret, { mode: 0o600 });
  return Buffer.from(secret, 'utf8');
}
