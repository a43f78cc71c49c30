import { useState } from 'react';
import { fieldLabel, moduleUi } from '../modules/ui.ts';
import { Link } from '../router.tsx';
import { useOffline } from './OfflineProvider.tsx';

/**
 * In the header while edits are kept on this device: "3 changes waiting to sync", and those
 * that need the person (a conflict, a refusal), each linking to its record. Nothing when all
 * is sent.
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
            <li key={change.seq} data-state={change.state}>
              <Link href={`/${change.module}/${change.recordId}`}>
                {moduleUi[change.module].singular}: {fieldLabel(change.module, change.field)}
              </Link>{' '}
              <span className="muted">
                {change.state === 'waiting'
                  ? 'waiting to sync'
                  : change.state === 'conflict'
                    ? 'changed by someone else meanwhile: choose on the record'
                    : `not saved: ${change.reason}`}
              </span>
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
