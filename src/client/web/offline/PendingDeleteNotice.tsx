import { moduleUi } from '../modules/ui.ts';
import { useUserName } from '../people/people.ts';
import { useConnectionSnapshot } from '../TandemProvider.tsx';
import { useOffline } from './OfflineProvider.tsx';
import type { PendingDelete } from './store.ts';

/**
 * On a record deleted on this device and not yet on the server: that it will go, or, when
 * someone changed it meanwhile, the choice (delete it anyway over their version, or keep
 * it); a refusal with its reason until discarded.
 */
export function PendingDeleteNotice({ change }: { change: PendingDelete }) {
  const { queue } = useOffline();
  const { state } = useConnectionSnapshot();
  const by = useUserName(change.theirBy);
  const singular = moduleUi[change.module].singular;
  if (change.state === 'conflict') {
    return (
      <div className="conflict pending-delete-notice" role="alert" data-testid="delete-conflict">
        <p>
          <strong>Not deleted: {by === 'you' ? 'this was changed elsewhere' : `${by} changed this`} meanwhile</strong> (it is now at version {change.theirVersion}). Delete it
          anyway, or keep it?
        </p>
        <button type="button" className="button small danger" onClick={() => void queue?.saveMine(change.seq)}>
          Delete anyway
        </button>
        <button type="button" className="button small ghost" onClick={() => void queue?.discard(change.seq)}>
          Keep it
        </button>
      </div>
    );
  }
  if (change.state === 'refused') {
    return (
      <div className="conflict pending-delete-notice" role="alert" data-testid="delete-refused">
        <p>
          <strong>Not deleted:</strong> {change.reason}
        </p>
        <button type="button" className="button small ghost" onClick={() => void queue?.discard(change.seq)}>
          Discard
        </button>
      </div>
    );
  }
  // Online, it is on its way (a moment); otherwise it waits for the connection.
  const sending = state === 'open' || state === 'fallback-polling';
  return (
    <p className="notice pending-delete-notice" role="status" data-testid="pending-delete">
      {sending ? `Deleting this ${singular}…` : `Will be deleted when back online: the delete is kept on this device.`}
    </p>
  );
}
