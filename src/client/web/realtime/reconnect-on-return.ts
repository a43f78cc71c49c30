import { isSocketDown, type ConnectionStatus } from '../../trpc.ts';

export interface ReconnectOnReturnOptions {
  window?: Pick<Window, 'addEventListener' | 'removeEventListener'>;
  document?: Pick<Document, 'addEventListener' | 'removeEventListener' | 'visibilityState'>;
}

/**
 * Retries the WebSocket at once when the user comes back: the tab becomes visible again
 * after being hidden, or the network returns, while the socket is down (reconnecting,
 * live via polling, or offline). Browsers throttle the timers of hidden tabs (Chrome runs
 * them once a minute after five hidden minutes), and a laptop waking from sleep resumes
 * mid-backoff, so without this the link's next attempt could come long after the user
 * looked. Not while the first attempt is still under way (`connecting`: replacing it would
 * only start it over) nor after sign-out (`closed`). Returns the function that stops it.
 */
export function reconnectOnReturn(connection: ConnectionStatus, { window: win = window, document: doc = document }: ReconnectOnReturnOptions = {}): () => void {
  let hidden = doc.visibilityState === 'hidden';
  const retryNow = () => {
    if (isSocketDown(connection.state)) connection.reconnect();
  };
  const onVisibilityChange = () => {
    if (doc.visibilityState === 'hidden') {
      hidden = true;
      return;
    }
    if (!hidden) return;
    hidden = false;
    retryNow();
  };
  win.addEventListener('online', retryNow);
  doc.addEventListener('visibilitychange', onVisibilityChange);
  return () => {
    win.removeEventListener('online', retryNow);
    doc.removeEventListener('visibilitychange', onVisibilityChange);
  };
}
