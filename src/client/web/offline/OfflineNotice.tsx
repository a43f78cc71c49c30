import { useConnectionSnapshot } from '../TandemProvider.tsx';

/** Over the page while the server cannot be reached: what is shown may be out of date, and changes wait. */
export function OfflineNotice() {
  const { state } = useConnectionSnapshot();
  if (state !== 'offline' && state !== 'reconnecting') return null;
  return (
    <p className="notice offline-notice" role="status" data-testid="offline-notice">
      Offline — showing what you last saw. Your changes (edits, new records, deletes) are kept on this device and sent when the connection is back.
    </p>
  );
}
