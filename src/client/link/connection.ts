/**
 * What the user should be told about the connection:
 * - `connecting`: the first WebSocket attempt is under way;
 * - `open`: live, everything over the one WebSocket;
 * - `reconnecting`: the WebSocket is down and retrying (`attempt` counts the failures),
 *   and it is not yet known whether the server answers over HTTP;
 * - `fallback-polling`: the WebSocket is unavailable but the server answers over HTTP:
 *   queries and mutations go over HTTP batch requests and subscriptions poll the log;
 * - `offline`: neither the WebSocket nor HTTP reaches the server;
 * - `closed`: `close()` was called.
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'fallback-polling' | 'offline' | 'closed';

export interface ConnectionSnapshot {
  state: ConnectionState;
  /** Failed WebSocket attempts since it was last open. */
  attempt: number;
}

export interface ConnectionStatus extends ConnectionSnapshot {
  /** Calls `listener` with every change; returns the unsubscribe function. */
  subscribe(listener: (snapshot: ConnectionSnapshot) => void): () => void;
  /** Drops the current WebSocket and tries again at once (the "Reconnect" button). */
  reconnect(): void;
}

/** True while the WebSocket is down: subscriptions that the log can serve poll it. */
export function isSocketDown(state: ConnectionState): boolean {
  return state === 'reconnecting' || state === 'fallback-polling' || state === 'offline';
}

/** The connection's state machine, fed by the WebSocket client and by the outcome of HTTP calls. */
export function createConnectionTracker() {
  let socket: 'connecting' | 'open' | 'down' = 'connecting';
  let http: 'unknown' | 'reachable' | 'unreachable' = 'unknown';
  let closed = false;
  let attempt = 0;
  let snapshot: ConnectionSnapshot = { state: 'connecting', attempt: 0 };
  const listeners = new Set<(snapshot: ConnectionSnapshot) => void>();

  const derive = (): ConnectionState => {
    if (closed) return 'closed';
    if (socket !== 'down') return socket;
    return http === 'reachable' ? 'fallback-polling' : http === 'unreachable' ? 'offline' : 'reconnecting';
  };
  const update = () => {
    const next = { state: derive(), attempt };
    if (next.state === snapshot.state && next.attempt === snapshot.attempt) return;
    snapshot = next;
    for (const listener of [...listeners]) listener(snapshot);
  };

  return {
    get state() {
      return snapshot.state;
    },
    get attempt() {
      return snapshot.attempt;
    },
    subscribe(listener: (snapshot: ConnectionSnapshot) => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    socketOpened() {
      socket = 'open';
      attempt = 0;
      update();
    },
    socketFailed() {
      if (socket === 'open') http = 'unknown';
      socket = 'down';
      attempt += 1;
      update();
    },
    /** A new socket after `reconnect()`: down until it opens. */
    socketReplaced() {
      socket = 'down';
      http = 'unknown';
      update();
    },
    httpSucceeded() {
      http = 'reachable';
      update();
    },
    httpFailed() {
      http = 'unreachable';
      update();
    },
    close() {
      closed = true;
      update();
    },
  };
}

export type ConnectionTracker = ReturnType<typeof createConnectionTracker>;
