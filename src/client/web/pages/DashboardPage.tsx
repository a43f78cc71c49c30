import { type ReactNode, useId, useRef, useState } from 'react';
import { JOB_STATUSES } from '../../../shared/modules.ts';
import type { DashboardCounters, TeamLoad } from '../../../shared/dashboard.ts';
import { enumLabel } from '../modules/ui.ts';
import { Link } from '../router.tsx';
import { useConnectionSnapshot } from '../TandemProvider.tsx';
import { trpc } from '../trpc.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';

const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 });
const hours = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/**
 * The org at a glance. The counters move by themselves: `dashboard.onCounters` pushes them
 * over the socket whenever a change moves them; while the socket is down (the stream needs
 * it) the query is refetched every few seconds instead.
 */
export function DashboardPage() {
  const utils = trpc.useUtils();
  const { state } = useConnectionSnapshot();
  // Following one team: its people in the crew table (the rest of the page is the org's).
  const [teamId, setTeamId] = useState('');
  const input = teamId ? { teamId } : undefined;
  const query = trpc.dashboard.counters.useQuery(input, { refetchInterval: state === 'open' ? false : 5_000 });
  trpc.dashboard.onCounters.useSubscription(input, {
    onData: (counters) => utils.dashboard.counters.setData(input, counters as DashboardCounters),
  });
  const counters = query.data;
  const followed = counters?.teams.find((team) => team.teamId === teamId);
  const filterId = useId();

  return (
    <section aria-labelledby="dashboard-heading">
      <div className="page-header">
        <h1 id="dashboard-heading">Dashboard</h1>
        {counters?.teams.length ? (
          <span className="team-filter">
            <label htmlFor={filterId}>Team</label>
            <select id={filterId} className="input" value={teamId} onChange={(event) => setTeamId(event.target.value)}>
              <option value="">Everyone</option>
              {counters.teams.map((team) => (
                <option key={team.teamId} value={team.teamId}>
                  {team.name}
                </option>
              ))}
            </select>
          </span>
        ) : null}
      </div>
      <ErrorNote error={query.error} prefix="Could not load the dashboard" />
      <div className="cards">
        <Card label="Open jobs" value={counters?.openJobs} href="/jobs" testId="open-jobs" />
        <Card label="Appointments today" value={counters?.appointmentsToday} href="/appointments" testId="appointments-today" />
        <Card label="New leads this week" value={counters?.newLeadsThisWeek} href="/leads" testId="new-leads" />
        <Card label="Active conversations" value={counters?.activeConversations} href="/inbox" testId="active-conversations" />
        <Card label="Unread messages" value={counters?.unreadMessages} href="/inbox" testId="unread-messages" />
        <Card label="Missed calls today" value={counters?.missedCallsToday} href="/calls" testId="missed-calls" alert={(counters?.missedCallsToday ?? 0) > 0} />
      </div>
      <div className="panels">
        <section className="panel" aria-labelledby="jobs-by-status">
          <h2 id="jobs-by-status">Jobs by status</h2>
          <dl className="bars">
            {JOB_STATUSES.map((status) => {
              const count = counters?.jobsByStatus[status] ?? 0;
              const max = Math.max(1, ...Object.values(counters?.jobsByStatus ?? {}));
              return (
                <div key={status} className="bar-row">
                  <dt>{enumLabel(status)}</dt>
                  <dd>
                    <span className="bar" style={{ width: `${(count / max) * 100}%` }} aria-hidden="true" />
                    <span className="bar-value" data-testid={`jobs-${status}`}>
                      {counters ? count : '–'}
                    </span>
                  </dd>
                </div>
              );
            })}
          </dl>
        </section>
        <section className="panel" aria-labelledby="crew-heading">
          <h2 id="crew-heading">{followed ? `${followed.name} this week` : 'Crew this week'}</h2>
          {counters && counters.crew.length === 0 ? <p className="muted">{followed ? 'Nobody is in this team yet.' : 'Nobody has scheduled jobs this week.'}</p> : null}
          <LoadTable
            label="Person"
            rows={(counters?.crew ?? []).map((member) => ({
              key: member.userId,
              name: member.name,
              load: member,
              attributes: { 'data-testid': 'crew-row', 'data-user': member.userId },
            }))}
          />
        </section>
        {counters?.teams.length ? <TeamsPanel teams={counters.teams} onFollow={setTeamId} /> : null}
      </div>
      {counters ? <p className="muted small">As of {new Date(counters.asOf).toLocaleTimeString()}</p> : null}
    </section>
  );
}

function Card({ label, value, href, testId, alert = false }: { label: string; value: number | undefined; href: string; testId: string; alert?: boolean }) {
  // Flash when the number moves, not when it first appears.
  const first = useRef(value);
  if (first.current === undefined) first.current = value;
  const moved = value !== undefined && value !== first.current;
  return (
    <Link href={href} className={`card${alert ? ' card-alert' : ''}`}>
      <span className="card-label">{label}</span>
      {/* The key restarts the flash each time the number changes. */}
      <span key={value ?? 'none'} className={`card-value${moved ? ' changed' : ''}`} data-testid={testId}>
        {value ?? '–'}
      </span>
    </Link>
  );
}

/** Each team's load this week: its people's scheduled hours against their capacities together. */
function TeamsPanel({ teams, onFollow }: { teams: TeamLoad[]; onFollow: (teamId: string) => void }) {
  return (
    <section className="panel" aria-labelledby="teams-heading">
      <h2 id="teams-heading">Teams this week</h2>
      <LoadTable
        label="Team"
        testId="teams-load"
        rows={teams.map((team) => ({
          key: team.teamId,
          name: (
            <>
              <button type="button" className="link-button" onClick={() => onFollow(team.teamId)} title={`Follow ${team.name}`}>
                {team.name}
              </button>{' '}
              <span className="muted">({team.members})</span>
            </>
          ),
          load: team,
          attributes: { 'data-testid': 'team-row', 'data-team': team.teamId },
        }))}
      />
    </section>
  );
}

/** People's or teams' hours this week against their capacity, over 100 % marked. */
function LoadTable({
  label,
  testId,
  rows,
}: {
  label: string;
  testId?: string;
  rows: { key: string; name: ReactNode; load: Pick<TeamLoad, 'scheduledHours' | 'capacityHours' | 'utilization'>; attributes: Record<string, string> }[];
}) {
  return (
    <table className="records compact" data-testid={testId}>
      <thead>
        <tr>
          <th scope="col">{label}</th>
          <th scope="col" className="col-number">
            Scheduled
          </th>
          <th scope="col" className="col-number">
            Utilization
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ key, name, load, attributes }) => (
          <tr key={key} {...attributes}>
            <th scope="row">{name}</th>
            <td className="col-number">
              {hours.format(load.scheduledHours)} / {hours.format(load.capacityHours)} h
            </td>
            <td className={`col-number${load.utilization > 1 ? ' over' : ''}`}>{percent.format(load.utilization)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
