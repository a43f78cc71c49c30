import type { ReactNode } from 'react';
import { MODULE_NAMES, type ModuleName } from '../../../shared/modules.ts';
import { moduleUi } from '../modules/ui.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session/SessionContext.tsx';
import { NotificationBell } from '../notifications/NotificationBell.tsx';
import { Toasts } from '../notifications/Toasts.tsx';
import { OnlineAvatars } from '../presence/Avatars.tsx';
import { CallBanner } from '../calls/CallBanner.tsx';
import { useInboxUnread } from '../inbox/InboxPage.tsx';
import { badgeText } from '../notifications/NotificationBell.tsx';
import { trpc } from '../trpc.ts';
import { ConnectionIndicator } from './ConnectionIndicator.tsx';
import { SyncStatus } from '../offline/SyncStatus.tsx';
import { OfflineNotice } from '../offline/OfflineNotice.tsx';

export type Section = ModuleName | 'dashboard' | 'inbox' | 'calls' | 'alerts' | 'team' | 'account';

export function Layout({ current, children }: { current: Section | null; children: ReactNode }) {
  const unread = useInboxUnread();
  const { user, signOut } = useSession();
  // Signing out ends the session on the server too (every tab and device using it); the tab signs out either way.
  const logout = trpc.auth.logout.useMutation({ onSettled: () => signOut() });
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand">
          <span className="logo" aria-hidden="true" /> Tandem
        </Link>
        <span className="org">{user.orgName}</span>
        <div className="header-slot">
          <OnlineAvatars />
        </div>
        <ConnectionIndicator />
        <SyncStatus />
        <NotificationBell />
        <div className="user">
          <span className="avatar" aria-hidden="true">
            {user.name.charAt(0)}
          </span>
          <Link href="/account" className="user-name" aria-current={current === 'account' ? 'page' : undefined}>
            {user.name}
          </Link>
          <button type="button" className="button small ghost" disabled={logout.isPending} onClick={() => logout.mutate(undefined)}>
            Sign out
          </button>
        </div>
      </header>
      <nav className="sidebar" aria-label="Modules">
        <ul>
          <li>
            <Link href="/dashboard" aria-current={current === 'dashboard' ? 'page' : undefined}>
              Dashboard
            </Link>
          </li>
          <li>
            <Link href="/inbox" aria-current={current === 'inbox' ? 'page' : undefined} className="nav-with-badge" data-testid="nav-inbox">
              Inbox
              <span className="nav-badge" hidden={unread === 0} data-testid="inbox-badge">
                <span aria-hidden="true">{badgeText(unread)}</span>
                <span className="visually-hidden">, {unread} unread</span>
              </span>
            </Link>
          </li>
          <li>
            <Link href="/calls" aria-current={current === 'calls' ? 'page' : undefined}>
              Calls
            </Link>
          </li>
          <li>
            <Link href="/alerts" aria-current={current === 'alerts' ? 'page' : undefined}>
              Alerts
            </Link>
          </li>
          {user.role === 'admin' ? (
            <li>
              <Link href="/team" aria-current={current === 'team' ? 'page' : undefined}>
                Team
              </Link>
            </li>
          ) : null}
          {MODULE_NAMES.map((name, index) => (
            <li key={name} className={index === 0 ? 'nav-group-start' : undefined}>
              <Link href={`/${name}`} aria-current={name === current ? 'page' : undefined}>
                {moduleUi[name].plural}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        <OfflineNotice />
        {children}
      </main>
      <CallBanner />
      <Toasts />
    </div>
  );
}
