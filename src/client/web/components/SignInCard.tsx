import type { ReactNode } from 'react';

/** The card of the pages seen before signing in (sign-in, accepting an invitation): the brand, one line, the form. */
export function SignInCard({ tagline, children }: { tagline: string; children: ReactNode }) {
  return (
    <main className="signin">
      <div className="signin-card">
        <h1 className="brand-large">
          <span className="logo" aria-hidden="true" /> Tandem
        </h1>
        <p className="muted">{tagline}</p>
        {children}
      </div>
    </main>
  );
}
