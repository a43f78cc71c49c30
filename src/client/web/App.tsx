import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { backoffDelay } from '../trpc.ts';
import { MODULE_NAMES, type ModuleName } from '../../shared/modules.ts';
import { Layout } from './components/Layout.tsx';
import { CreatePage } from './pages/CreatePage.tsx';
import { AlertsPage } from './alerts/AlertsPage.tsx';
import { CallsPage } from './calls/CallsPage.tsx';
import { CallsProvider } from './calls/CallsProvider.tsx';
import { InboxPage } from './inbox/InboxPage.tsx';
import { useConversationsRealtime } from './inbox/useConversationsRealtime.ts';
import { DashboardPage } from './pages/DashboardPage.tsx';
import { DetailPage } from './pages/DetailPage.tsx';
import { ListPage } from './pages/ListPage.tsx';
import { SignInPage } from './pages/SignInPage.tsx';
import { NotificationsProvider } from './notifications/NotificationsProvider.tsx';
import { PresenceProvider } from './presence/PresenceProvider.tsx';
import { useRealtime } from './realtime/useRealtime.ts';
import { navigate, usePathname } from './router.tsx';
import { clearSession, loadSession, saveSession, type Session } from './session/session.ts';
import { SessionContext, useSession, type SessionValue } from './session/SessionContext.tsx';
import { TandemProvider } from './TandemProvider.tsx';
import { AcceptInvitePage } from './team/AcceptInvitePage.tsx';
import { AccountPage } from './team/AccountPage.tsx';
import { TeamPage } from './team/TeamPage.tsx';
import { trpc } from './trpc.ts';
import { OfflineProvider } from './offline/OfflineProvider.tsx';
import { forgetRecordsSeen } from './offline/persist.ts';

/** The link's backoff, capped at 10 s: someone watching the indicator should not wait half a minute. */
const retryDelayMs = (attempt: number) => backoffDelay(attempt, { capMs: 10_000 });

type Route =
  | { page: 'dashboard' }
  | { page: 'inbox'; id?: string }
  | { page: 'calls' }
  | { page: 'alerts' }
  | { page: 'team' }
  | { page: 'account' }
  | { page: 'invite'; token: string }
  | { page: 'list'; module: ModuleName }
  | { page: 'new'; module: ModuleName }
  | { page: 'detail'; module: ModuleName; id: string }
  | { page: 'signin' };

export function parseRoute(pathname: string): Route | null {
  const [first, second, extra] = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (first === 'signin' && !second) return { page: 'signin' };
  if (first === 'dashboard' && !second) return { page: 'dashboard' };
  if (first === 'inbox' && !extra) return second ? { page: 'inbox', id: second } : { page: 'inbox' };
  if (first === 'calls' && !second) return { page: 'calls' };
  if (first === 'alerts' && !second) return { page: 'alerts' };
  if (first === 'team' && !second) return { page: 'team' };
  if (first === 'account' && !second) return { page: 'account' };
  if (first === 'invite' && second && !extra) return { page: 'invite', token: second };
  if (!first || !MODULE_NAMES.includes(first as ModuleName) || extra) return null;
  const module = first as ModuleName;
  if (!second) return { page: 'list', module };
  if (second === 'new') return { page: 'new', module };
  return { page: 'detail', module, id: second };
}

/** The whole app: the sign-in page, or a signed-in session with its connection and cache. */
export function App({ url = window.location.origin }: { url?: string }) {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [notice, setNotice] = useState<string | undefined>();
  const pathname = usePathname();
  const tokenRef = useRef(session?.token ?? '');
  tokenRef.current = session?.token ?? '';
  const getToken = useCallback(() => tokenRef.current, []);

  const signOut = useCallback((reason?: string) => {
    const leaving = loadSession()?.user.id;
    if (leaving) void forgetRecordsSeen(leaving);
    clearSession();
    setSession(null);
    setNotice(reason);
    navigate('/signin');
  }, []);

  // A token that could not be refreshed in time ends the session.
  useEffect(() => {
    if (!session) return;
    const timer = setTimeout(() => signOut('Your session expired. Sign in again.'), Math.max(0, Date.parse(session.expiresAt) - Date.now()));
    return () => clearTimeout(timer);
  }, [session, signOut]);

  const refreshed = useCallback((token: string, expiresAt: string) => {
    setSession((current) => {
      if (!current) return current;
      const next = { ...current, token, expiresAt };
      saveSession(next);
      return next;
    });
  }, []);

  const value = useMemo<SessionValue | null>(() => (session ? { ...session, signOut } : null), [session, signOut]);

  if (!value) {
    const route = parseRoute(pathname);
    if (route?.page === 'invite') {
      return (
        <AcceptInvitePage
          url={url}
          token={route.token}
          onSignedIn={(next) => {
            saveSession(next);
            setNotice(undefined);
            setSession(next);
            navigate('/escrows', { replace: true });
          }}
        />
      );
    }
    return (
      <SignInPage
        url={url}
        notice={notice}
        onSignedIn={(next) => {
          saveSession(next);
          setNotice(undefined);
          setSession(next);
          const route = parseRoute(pathname);
          if (!route || route.page === 'signin') navigate('/escrows', { replace: true });
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={value}>
      <TandemProvider key={value.user.id} url={url} getToken={getToken} retryDelayMs={retryDelayMs} onUnauthorized={() => signOut('Your session ended. Sign in again.')}>
        <TokenRefresher expiresAt={value.expiresAt} onRefreshed={refreshed} />
        <SignedIn pathname={pathname} />
      </TandemProvider>
    </SessionContext.Provider>
  );
}

/**
 * Asks for a fresh token a while before this one expires (over the WebSocket when it is
 * open, which also extends that connection's session), and retries on failure.
 */
function TokenRefresher({ expiresAt, onRefreshed }: { expiresAt: string; onRefreshed: (token: string, expiresAt: string) => void }) {
  const refresh = trpc.auth.refresh.useMutation({ onSuccess: (result) => onRefreshed(result.token, result.expiresAt) });
  const { mutate } = refresh;
  const attempted = refresh.submittedAt;
  // biome-ignore lint/correctness/useExhaustiveDependencies: a failed or finished refresh (isError, submittedAt) schedules the next attempt
  useEffect(() => {
    const left = Date.parse(expiresAt) - Date.now();
    const lead = Math.min(5 * 60_000, left / 5);
    const delay = refresh.isError ? Math.min(30_000, left / 4) : left - lead;
    const timer = setTimeout(() => mutate(undefined), Math.max(1_000, delay));
    return () => clearTimeout(timer);
  }, [expiresAt, mutate, refresh.isError, attempted]);
  return null;
}

function SignedIn({ pathname }: { pathname: string }) {
  const { user, signOut } = useSession();
  const route = parseRoute(pathname);
  // A list follows its module, a detail page its record; the other pages have streams of their own.
  const scope = route?.page === 'list' ? { module: route.module } : route?.page === 'detail' ? { module: route.module, id: route.id } : null;
  useRealtime(scope, { userId: user.id, onUnauthorized: () => signOut('Your session ended. Sign in again.') });
  useConversationsRealtime(user.id);
  // An invitation opened while signed in: it is someone else's to accept.
  const elsewhere = !route || route.page === 'signin' || route.page === 'invite';
  useEffect(() => {
    if (elsewhere) navigate('/escrows', { replace: true });
  }, [elsewhere]);
  if (elsewhere) return null;
  return (
    <PresenceProvider>
      <OfflineProvider>
        <NotificationsProvider>
          <CallsProvider>
            <Layout current={'module' in route ? route.module : route.page}>
              {route.page === 'dashboard' ? <DashboardPage /> : null}
              {route.page === 'inbox' ? <InboxPage conversationId={route.id} /> : null}
              {route.page === 'calls' ? <CallsPage /> : null}
              {route.page === 'alerts' ? <AlertsPage /> : null}
              {route.page === 'team' ? <TeamPage /> : null}
              {route.page === 'account' ? <AccountPage /> : null}
              {route.page === 'list' ? <ListPage key={route.module} module={route.module} /> : null}
              {route.page === 'new' ? <CreatePage key={route.module} module={route.module} /> : null}
              {route.page === 'detail' ? <DetailPage key={`${route.module}/${route.id}`} module={route.module} id={route.id} /> : null}
            </Layout>
          </CallsProvider>
        </NotificationsProvider>
      </OfflineProvider>
    </PresenceProvider>
  );
}
