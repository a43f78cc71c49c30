import { useState, type FormEvent } from 'react';
import { useSession } from '../session/SessionContext.tsx';
import { trpc } from '../trpc.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';

/** The signed-in user's account: change the password (other sessions are signed out). */
export function AccountPage() {
  const { user } = useSession();
  const [currentPassword, setCurrentPassword] = useState('');
  const [newPassword, setNewPassword] = useState('');
  const change = trpc.auth.changePassword.useMutation({
    onSuccess: () => {
      setCurrentPassword('');
      setNewPassword('');
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate({ currentPassword, newPassword });
  };
  return (
    <section className="signin-card">
      <h1>Account</h1>
      <p className="muted">
        {user.name} · {user.email} · {user.role}
      </p>
      <form onSubmit={submit}>
        <h2>Change password</h2>
        <label htmlFor="current-password">Current password</label>
        <input
          id="current-password"
          className="input"
          type="password"
          autoComplete="current-password"
          required
          value={currentPassword}
          onChange={(e) => setCurrentPassword(e.target.value)}
        />
        <label htmlFor="new-password">New password (at least 8 characters)</label>
        <input
          id="new-password"
          className="input"
          type="password"
          autoComplete="new-password"
          minLength={8}
          required
          value={newPassword}
          onChange={(e) => setNewPassword(e.target.value)}
        />
        <ErrorNote error={change.error} />
        {change.data ? (
          <p className="notice" role="status">
            Password changed; {change.data.signedOutSessions === 1 ? '1 other session was' : `${change.data.signedOutSessions} other sessions were`} signed out.
          </p>
        ) : null}
        <button type="submit" className="button primary wide" disabled={change.isPending}>
          Change password
        </button>
      </form>
    </section>
  );
}
