import { useState, type FormEvent } from 'react';
import { createHttpClient } from '../../trpc.ts';
import { messageOf } from '../modules/api.ts';
import type { Session } from '../session/session.ts';
import { SignInCard } from '../components/SignInCard.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';

/** Shown on the sign-in page: the accounts the demo database is seeded with. */
const DEMO_LOGINS = [
  { email: 'alice@acme.test', who: 'Alice · admin · Acme Realty' },
  { email: 'bob@acme.test', who: 'Bob · agent · Acme Realty' },
  { email: 'carol@globex.test', who: 'Carol · admin · Globex Field Services' },
];
const DEMO_PASSWORD = 'demo1234';

export function SignInPage({ url, onSignedIn, notice }: { url: string; onSignedIn: (session: Session) => void; notice?: string | undefined }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      // Over HTTP: the WebSocket only accepts a signed-in client.
      const result = await createHttpClient(url).auth.login.mutate({ email, password });
      onSignedIn(result);
    } catch (cause) {
      setError(messageOf(cause));
      setPending(false);
    }
  };

  return (
    <SignInCard tagline="The live, collaborative CRM. Sign in to continue.">
      {notice ? (
        <p className="notice" role="status">
          {notice}
        </p>
      ) : null}
      <form onSubmit={submit} noValidate>
        <label htmlFor="email">Email</label>
        <input id="email" className="input" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="password">Password</label>
        <input id="password" className="input" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <ErrorNote error={error} />
        <button type="submit" className="button primary wide" disabled={pending}>
          {pending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <section className="demo-logins" aria-labelledby="demo-heading">
        <h2 id="demo-heading">Demo logins</h2>
        <p className="muted">
          Password <code>{DEMO_PASSWORD}</code>. Choose one to fill in the form.
        </p>
        <ul>
          {DEMO_LOGINS.map((login) => (
            <li key={login.email}>
              <button
                type="button"
                className="link-button"
                onClick={() => {
                  setEmail(login.email);
                  setPassword(DEMO_PASSWORD);
                }}
              >
                <code>{login.email}</code>
              </button>
              <span className="muted"> {login.who}</span>
            </li>
          ))}
        </ul>
      </section>
    </SignInCard>
  );
}
