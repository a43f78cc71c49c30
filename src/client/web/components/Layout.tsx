import type { ReactNode } from 'react';
import { MODULE_NAMES, type ModuleName } from '../../../shared/modules.ts';
import { moduleUi } from '../modules/ui.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session/SessionContext.tsx';
import { NotificationBell } from '../notifications/NotificationBell.tsx';
import { Toasts } from '../notifications/Toasts.tsx';
import { OnlineAvatars } from '../presence/Avatars.tsx';
import { ConnectionIndicator } from './ConnectionIndicator.tsx';

export function Layout({ current, children }: { current: ModuleName | 'dashboard' | null; children: ReactNode }) {
  const { user, signOut } = useSession();
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
        <NotificationBell />
        <div className="user">
          <span className="avatar" aria-hidden="true">
            {user.name.charAt(0)}
          </span>
          <span className="user-name">{user.name}</span>
          <button type="button" className="button small ghost" onClick={() => signOut()}>
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
          {MODULE_NAMES.map((name) => (
            <li key={name}>
              <Link href={`/${name}`} aria-current={name === current ? 'page' : undefined}>
                {moduleUi[name].plural}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        {children}
      </main>
      <Toasts />
    </div>
  );
}
