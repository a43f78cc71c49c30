import { useState, type FormEvent } from 'react';
import { ROLES, type Role } from '../../../shared/auth.ts';
import { messageOf } from '../modules/api.ts';
import { useSession } from '../session/SessionContext.tsx';
import { trpc } from '../trpc.ts';
import { CarriersPanel } from './CarriersPanel.tsx';
import { CapacityInput, TeamsPanel } from './TeamsPanel.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';

/** Members shown at first, and added by each "Load more". */
const TEAM_PAGE = 50;

/** Admins: the org's people (role, deactivate / reactivate), invitations and their links. */
export function TeamPage() {
  const { user } = useSession();
  if (user.role !== 'admin') {
    return (
      <section>
        <h1>Team</h1>
        <p className="muted">Only an admin of {user.orgName} can manage its team.</p>
      </section>
    );
  }
  return (
    <section>
      <div className="page-header">
        <h1>Team</h1>
      </div>
      <InviteForm />
      <PendingInvitations />
      <Members />
      <TeamsPanel />
      <CarriersPanel />
    </section>
  );
}

function Members() {
  const { user: me } = useSession();
  const utils = trpc.useUtils();
  const members = trpc.users.list.useInfiniteQuery({ limit: TEAM_PAGE }, { getNextPageParam: (page) => page.nextCursor ?? undefined });
  const [error, setError] = useState<string | null>(null);
  const done = { onSuccess: () => void utils.users.list.invalidate(), onError: (cause: unknown) => setError(messageOf(cause)) };
  const setRole = trpc.users.setRole.useMutation(done);
  const deactivate = trpc.users.deactivate.useMutation(done);
  const reactivate = trpc.users.reactivate.useMutation(done);
  return (
    <>
      <h2>Members</h2>
      <ErrorNote error={error} />
      <div className="table-wrap">
        <table className="records">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Hours a week</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(members.data?.pages.flatMap((page) => page.items) ?? []).map((member) => {
              const self = member.id === me.id;
              return (
                <tr key={member.id} data-testid={`member-${member.email}`}>
                  <th scope="row">{member.name}</th>
                  <td>{member.email}</td>
                  <td>
                    <select
                      className="input"
                      aria-label={`Role of ${member.name}`}
                      value={member.role}
                      disabled={self || setRole.isPending}
                      onChange={(event) => {
                        setError(null);
                        setRole.mutate({ userId: member.id, role: event.target.value as Role });
                      }}
                    >
                      {ROLES.map((role) => (
                        <option key={role} value={role}>
                          {role}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <span className={`pill ${member.active === false ? 'pill-cancelled' : 'pill-active'}`}>{member.active === false ? 'deactivated' : 'active'}</span>
                  </td>
                  <td>
                    <CapacityInput userId={member.id} name={member.name} hours={member.weeklyCapacityHours ?? null} onError={setError} />
                  </td>
                  <td>
                    {self ? (
                      <span className="muted">you</span>
                    ) : member.active === false ? (
                      <button type="button" className="button small" onClick={() => reactivate.mutate({ userId: member.id })}>
                        Reactivate
                      </button>
                    ) : (
                      <button type="button" className="button small danger-outline" onClick={() => deactivate.mutate({ userId: member.id })}>
                        Deactivate
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {members.hasNextPage ? (
        <div className="load-more">
          <button type="button" className="button" onClick={() => void members.fetchNextPage()} disabled={members.isFetchingNextPage}>
            {members.isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
        </div>
      ) : null}
    </>
  );
}

function InviteForm() {
  const utils = trpc.useUtils();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('agent');
  const invite = trpc.users.invite.useMutation({ onSuccess: () => void utils.users.invitations.invalidate() });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    invite.mutate({ email, role }, { onSuccess: () => setEmail('') });
  };
  // The server's link is relative unless PUBLIC_URL is set: shown as this page's origin then.
  const link = invite.data ? new URL(invite.data.inviteUrl, window.location.origin).href : null;
  return (
    <form className="filters" onSubmit={submit} aria-label="Invite someone">
      <label htmlFor="invite-email" className="visually-hidden">
        Email
      </label>
      <input id="invite-email" className="input search" type="email" placeholder="name@example.com" required value={email} onChange={(e) => setEmail(e.target.value)} />
      <label htmlFor="invite-role" className="visually-hidden">
        Role
      </label>
      <select id="invite-role" className="input" value={role} onChange={(e) => setRole(e.target.value as Role)}>
        {ROLES.map((each) => (
          <option key={each} value={each}>
            {each}
          </option>
        ))}
      </select>
      <button type="submit" className="button primary" disabled={invite.isPending}>
        Invite
      </button>
      <ErrorNote error={invite.error} inline />
      {link ? (
        <span role="status">
          Send this link (valid until {new Date(invite.data!.expiresAt).toLocaleDateString()}): <code data-testid="invite-link">{link}</code>
        </span>
      ) : null}
    </form>
  );
}

function PendingInvitations() {
  const utils = trpc.useUtils();
  const pending = trpc.users.invitations.useQuery();
  const revoke = trpc.users.revokeInvitation.useMutation({ onSuccess: () => void utils.users.invitations.invalidate() });
  if (!pending.data?.length) return null;
  return (
    <>
      <h2>Pending invitations</h2>
      <ul>
        {pending.data.map((invitation) => (
          <li key={invitation.id}>
            {invitation.email} <span className="pill">{invitation.role}</span> <span className="muted">until {new Date(invitation.expiresAt).toLocaleDateString()}</span>{' '}
            <button type="button" className="button small ghost" onClick={() => revoke.mutate({ id: invitation.id })}>
              Revoke
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}
