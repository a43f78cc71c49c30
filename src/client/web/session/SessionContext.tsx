import { createContext, useContext } from 'react';
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
 * How a person is named in "deleted by …" and "… changed it". The API has no user
 * directory yet (it comes with presence, issue 5): until then others are "a colleague".
 */
export function useUserName(userId: string | undefined): string {
  const { user } = useSession();
  if (!userId) return 'someone';
  return userId === user.id ? 'you' : 'a colleague';
}
