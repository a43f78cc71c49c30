import type { PresenceEntry, Viewer } from '../../../shared/presence.ts';
import { useNamesOf } from '../people/people.ts';
import { useSession } from '../session/SessionContext.tsx';
import { usePresence } from './PresenceProvider.tsx';

function initials(name: string): string {
  const parts = name.trim().split(/\s+/);
  return ((parts[0]?.[0] ?? '') + (parts.length > 1 ? (parts.at(-1)?.[0] ?? '') : '')).toUpperCase() || '?';
}

/** A stable colour per person, so the same colleague looks the same everywhere. */
function hueOf(userId: string): number {
  let hash = 0;
  for (const char of userId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % 360;
}

export function Avatar({ person, status }: { person: Viewer; status?: PresenceEntry['status'] }) {
  const name = useNamesOf([person])[0] ?? person.name;
  const label = status ? `${name} (${status})` : name;
  return (
    <span
      className={`avatar presence-avatar${status === 'idle' ? ' idle' : ''}`}
      style={{ ['--hue' as string]: hueOf(person.userId) }}
      title={label}
      role="img"
      aria-label={label}
      data-user={name}
    >
      {initials(name)}
    </span>
  );
}

/** The header's "who else is here": colleagues online or idle, in a fixed-width strip. */
export function OnlineAvatars() {
  const { entries } = usePresence();
  const { user } = useSession();
  const others = [...entries.values()].filter((entry) => entry.userId !== user.id && entry.status !== 'offline').sort((a, b) => a.name.localeCompare(b.name));
  const shown = others.slice(0, 5);
  return (
    <ul className="online" aria-label="Colleagues online" data-testid="online">
      {shown.map((entry) => (
        <li key={entry.userId}>
          <Avatar person={entry} status={entry.status} />
        </li>
      ))}
      {others.length > shown.length ? <li className="more">+{others.length - shown.length}</li> : null}
    </ul>
  );
}
