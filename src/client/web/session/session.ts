import type { PublicUser } from '../../../shared/auth.ts';

/** The signed-in user and their token, kept in sessionStorage for the life of the tab. */
export interface Session {
  token: string;
  expiresAt: string;
  user: PublicUser;
}

const KEY = 'tandem.session';

export function loadSession(storage: Storage = window.sessionStorage): Session | null {
  try {
    const session = JSON.parse(storage.getItem(KEY) ?? 'null') as Session | null;
    if (!session?.token || Date.parse(session.expiresAt) <= Date.now()) return null;
    return session;
  } catch {
    return null;
  }
}

export function saveSession(session: Session, storage: Storage = window.sessionStorage) {
  storage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(storage: Storage = window.sessionStorage) {
  storage.removeItem(KEY);
}
