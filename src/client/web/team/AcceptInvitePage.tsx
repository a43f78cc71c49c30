import { useState, type FormEvent } from 'react';
import { createHttpClient } from '../../trpc.ts';
import { messageOf } from '../modules/api.ts';
import type { Session } from '../session/session.ts';
import { SignInCard } from '../components/SignInCard.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';

/** `/invite/<token>`: join the org that invited you, choosing a name and a password; signs in. */
export function AcceptInvitePage({ url, token, onSignedIn }: { url: string; token: string; onSignedIn: (session: Session) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      onSignedIn(await createHttpClient(url).invitations.accept.mutate({ token, name, password }));
    } catch (cause) {
      setError(messageOf(cause));
      setPending(false);
    }
  };
  return (
    <SignInCard tagline="You were invited to join your team on Tandem.">
      <form onSubmit={submit} noValidate>
        <label htmlFor="name">Your name</label>
        <input id="name" className="input" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor="password">Choose a password (at least 8 characters)</label>
        <input id="password" className="input" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <ErrorNote error={error} />
        <button type="submit" className="button primary wide" disabled={pending}>
          {pending ? 'Joining…' : 'Join'}
        </button>
      </form>
    </SignInCard>
  );
}
