import { useId, useState, type FormEvent } from 'react';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { messageOf } from '../modules/api.ts';
import { usePeople } from '../people/people.ts';
import { trpc } from '../trpc.ts';

const TEAM_CHANGES: ReadonlySet<string> = new Set(['team:created', 'team:updated', 'team:members', 'team:deleted']);

/** Admins: the org's teams, their people, and new teams. Kept current by `teams.onChange`. */
export function TeamsPanel() {
  const utils = trpc.useUtils();
  const teams = trpc.teams.list.useQuery();
  trpc.teams.onChange.useSubscription(undefined, {
    // The stream also carries loads and work handed to teams, which change no team.
    onData: ({ data }) => {
      if (!('action' in data) || TEAM_CHANGES.has(data.action)) void utils.teams.list.invalidate();
    },
  });
  const [name, setName] = useState('');
  const nameId = useId();
  const create = trpc.teams.create.useMutation({ onSuccess: () => void utils.teams.list.invalidate() });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ name }, { onSuccess: () => setName('') });
  };
  return (
    <>
      <h2>Teams</h2>
      <p className="muted">Divisions and crews: the dashboard shows each team's load, and can follow one.</p>
      <form className="inline-form" aria-label="New team" onSubmit={submit}>
        <label htmlFor={nameId}>New team</label>
        <input id={nameId} className="input" value={name} maxLength={80} required onChange={(event) => setName(event.target.value)} />
        <button type="submit" className="button primary" disabled={create.isPending}>
          Create
        </button>
        <ErrorNote error={create.error} inline />
      </form>
      <ErrorNote error={teams.error} prefix="Could not load the teams" />
      <ul className="teams" data-testid="teams">
        {teams.data?.map((team) => (
          <TeamItem key={team.id} team={team} />
        ))}
      </ul>
    </>
  );
}

function TeamItem({ team }: { team: { id: string; name: string; memberIds: string[] } }) {
  const utils = trpc.useUtils();
  const { byId, people } = usePeople();
  const done = { onSuccess: () => void utils.teams.list.invalidate() };
  const add = trpc.teams.addMember.useMutation(done);
  const remove = trpc.teams.removeMember.useMutation(done);
  const drop = trpc.teams.delete.useMutation(done);
  const addId = useId();
  const others = people.filter((person) => !team.memberIds.includes(person.id));
  return (
    <li data-testid={`team-${team.name}`}>
      <strong>{team.name}</strong>
      <ul className="chips" aria-label={`People in ${team.name}`}>
        {team.memberIds.map((id) => (
          <li key={id} className="file-chip">
            {byId.get(id)?.name ?? 'Someone'}
            <button
              type="button"
              className="link-button"
              aria-label={`Take ${byId.get(id)?.name ?? 'them'} out of ${team.name}`}
              onClick={() => remove.mutate({ teamId: team.id, userId: id })}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      <label htmlFor={addId} className="visually-hidden">
        Add a person to {team.name}
      </label>
      <select id={addId} className="input" value="" onChange={(event) => event.target.value && add.mutate({ teamId: team.id, userId: event.target.value })}>
        <option value="">Add a person…</option>
        {others.map((person) => (
          <option key={person.id} value={person.id}>
            {person.name}
          </option>
        ))}
      </select>
      <button type="button" className="button small danger-outline" onClick={() => drop.mutate({ id: team.id })}>
        Delete team
      </button>
      <ErrorNote error={add.error ?? remove.error ?? drop.error} inline />
    </li>
  );
}

/** A person's weekly hours, saved when the field is left or Enter is pressed; empty: the org's default. */
export function CapacityInput({ userId, name, hours, onError }: { userId: string; name: string; hours: number | null; onError: (message: string | null) => void }) {
  const utils = trpc.useUtils();
  const [text, setText] = useState(hours === null ? '' : String(hours));
  const save = trpc.users.setCapacity.useMutation({ onSuccess: () => void utils.users.list.invalidate(), onError: (cause) => onError(messageOf(cause)) });
  const commit = () => {
    const value = text.trim() === '' ? null : Number(text);
    if (value === hours) return;
    if (value !== null && (!Number.isFinite(value) || value < 0 || value > 168)) return onError(`Hours a week for ${name}: a number from 0 to 168, or empty for the default`);
    onError(null);
    save.mutate({ userId, weeklyHours: value });
  };
  return (
    <input
      className="input capacity-input"
      type="number"
      min={0}
      max={168}
      step={0.5}
      placeholder="default"
      aria-label={`Hours a week for ${name}`}
      value={text}
      onChange={(event) => setText(event.target.value)}
      onBlur={commit}
      onKeyDown={(event) => {
        if (event.key === 'Enter') {
          event.preventDefault();
          commit();
        }
      }}
    />
  );
}
