import { useState } from 'react';
import { Link } from '../router.tsx';
import { describeChange, hrefOf } from './describe.ts';
import { useOffline } from './OfflineProvider.tsx';
import type { PendingChange } from './store.ts';

/** What became of a kept change, after its name in the list. */
function stateOf(change: PendingChange): string {
  if (change.state === 'waiting') return 'waiting to sync';
  if (change.state === 'conflict') return 'changed by someone else meanwhile: choose on the record';
  return `${change.kind === 'create' ? 'not created' : change.kind === 'delete' ? 'not deleted' : 'not saved'}: ${change.reason}`;
}

/**
 * In the header while changes are kept on this device: "3 changes waiting to sync" (edits,
 * new records and deletes alike), and those that need the person (a conflict, a refusal),
 * each linking to where it is shown. Nothing when all is sent.
 */
export function SyncStatus() {
  const { changes, queue } = useOffline();
  const [open, setOpen] = useState(false);
  if (!changes.length) return null;
  const waiting = changes.filter((change) => change.state === 'waiting').length;
  const stuck = changes.length - waiting;
  const label = [waiting ? `${waiting} change${waiting === 1 ? '' : 's'} waiting to sync` : null, stuck ? `${stuck} need${stuck === 1 ? 's' : ''} you` : null]
    .filter(Boolean)
    .join(' · ');
  return (
    <div className="sync-status">
      <button type="button" className={`sync-badge${stuck ? ' sync-stuck' : ''}`} aria-expanded={open} onClick={() => setOpen(!open)} data-testid="sync-status">
        {label}
      </button>
      {open ? (
        <ul className="sync-list" aria-label="Changes kept on this device">
          {changes.map((change) => (
            <li key={change.seq} data-state={change.state} data-kind={change.kind}>
              <Link href={hrefOf(change)}>{describeChange(change)}</Link> <span className="muted">{stateOf(change)}</span>
              {change.state === 'refused' ? (
                <button type="button" className="link-button" onClick={() => void queue?.discard(change.seq)}>
                  Discard
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
