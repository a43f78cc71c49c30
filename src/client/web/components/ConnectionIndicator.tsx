import type { ConnectionSnapshot } from '../../trpc.ts';
import { useConnection, useConnectionSnapshot } from '../TandemProvider.tsx';

interface Presentation {
  tone: 'live' | 'polling' | 'reconnecting' | 'offline' | 'idle';
  label: string;
  detail: string;
}

export function describeConnection({ state, attempt }: ConnectionSnapshot): Presentation {
  switch (state) {
    case 'open':
      return { tone: 'live', label: 'Live', detail: 'Changes by others appear as they happen.' };
    case 'fallback-polling':
      return { tone: 'polling', label: 'Live via polling', detail: 'The WebSocket is unavailable; updates arrive every few seconds over HTTP.' };
    case 'reconnecting':
      return { tone: 'reconnecting', label: `Reconnecting (attempt ${attempt})`, detail: 'The connection dropped; trying again.' };
    case 'offline':
      return { tone: 'offline', label: 'Offline', detail: 'The server cannot be reached. Changes by others will appear when it can.' };
    case 'connecting':
      return { tone: 'idle', label: 'Connecting…', detail: 'Opening the live connection.' };
    case 'closed':
      return { tone: 'idle', label: 'Disconnected', detail: 'Signed out.' };
  }
}

/** Always in the header: whether what you see is live, and a way to retry when it is not. */
export function ConnectionIndicator() {
  const connection = useConnection();
  const snapshot = useConnectionSnapshot();
  const { tone, label, detail } = describeConnection(snapshot);
  return (
    <div className="connection" data-state={snapshot.state}>
      <span className={`connection-badge tone-${tone}`} role="status" aria-live="polite" title={detail} data-testid="connection">
        <span className="dot" aria-hidden="true" />
        {label}
      </span>
      {snapshot.state === 'offline' || snapshot.state === 'reconnecting' ? (
        <button type="button" className="button small" onClick={() => connection.reconnect()}>
          Reconnect
        </button>
      ) : null}
    </div>
  );
}
