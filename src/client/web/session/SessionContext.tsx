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
