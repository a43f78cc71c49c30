import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errors, jwtVerify, SignJWT } from 'jose';

export interface TokenClaims {
  userId: string;
  orgId: string;
  /** The server-side session the token names (`sid`); see auth/sessions.ts. */
  sessionId: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface TokenService {
  /** A token for the session; it expires after the configured lifetime, or at `notAfter` (ms) when sooner. */
  sign(claims: { userId: string; orgId: string; sessionId: string; notAfter?: number }): Promise<{ token: string; expiresAt: number }>;
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
    async sign({ userId, orgId, sessionId, notAfter = Infinity }) {
      const expiresAtSeconds = Math.min(Math.floor(Date.now() / 1000) + ttlSeconds, Math.floor(notAfter / 1000));
      const token = await new SignJWT({ org: orgId, sid: sessionId })
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
        const { sub, org, sid, exp } = payload;
        // A token without a session (issued before sessions existed) cannot be revoked: refused.
        if (typeof sub !== 'string' || typeof org !== 'string' || typeof sid !== 'string' || typeof exp !== 'number') return null;
        return { userId: sub, orgId: org, sessionId: sid, expiresAt: exp * 1000 };
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
