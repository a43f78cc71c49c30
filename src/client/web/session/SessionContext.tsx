import { createContext, useContext } from 'react';
import { usePresence } from '../presence/PresenceProvider.tsx';
import type { Session } from './session.ts';

export interface SessionValue extends Session {
  signOut: (reason?: string) => void;
}

export const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in session');
  return session;
}

/**
 * How a person is named in "deleted by …" and "… changed it": "you", their name as presence
 * reported it, or "a colleague" for someone presence has not mentioned (the API has no user directory).
 */
export function useUserName(userId: string | undefined): string {
  const { user } = useSession();
  const { entries } = usePresence();
  if (!userId) return 'someone';
  if (userId === user.id) return 'you';
  return entries.get(userId)?.name ?? 'a colleague';
}
