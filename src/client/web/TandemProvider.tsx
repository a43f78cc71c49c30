import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { TRPCClientError } from '@trpc/client';
import { createContext, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import { createTandemLink, type ConnectionSnapshot, type ConnectionStatus } from '../trpc.ts';
import { reconnectOnReturn } from './realtime/reconnect-on-return.ts';
import { trpc } from './trpc.ts';

/** Live sessions by URL and token (see the StrictMode note in `TandemProvider`). */
const sessions = new Map<string, SessionState>();

interface SessionState {
  key: string;
  tandem: ReturnType<typeof createTandemLink>;
  queryClient: QueryClient;
  client: ReturnType<typeof trpc.createClient>;
  closeTimer: ReturnType<typeof setTimeout> | undefined;
}

/** The link's connection status; provided by `TandemProvider` (tests may provide their own). */
export const ConnectionContext = createContext<ConnectionStatus | null>(null);

export interface TandemProviderProps {
  /** The API's base URL; the page's own origin in the app. */
  url: string;
  /** Read on every connection and request, so a refreshed token is used from then on. */
  getToken: () => string;
  /** Called when the server no longer accepts the token. */
  onUnauthorized: () => void;
  children: ReactNode;
  /** For tests: the link's polling interval and reconnect delays. */
  pollIntervalMs?: number;
  retryDelayMs?: (attempt: number) => number;
  WebSocket?: typeof globalThis.WebSocket;
}

function isClientError(error: unknown): boolean {
  const code = error instanceof TRPCClientError ? (error.data as { httpStatus?: number } | undefined)?.httpStatus : undefined;
  return code !== undefined && code >= 400 && code < 500;
}

/**
 * One signed-in session: one tandem link (one WebSocket, HTTP and polling when it is
 * unavailable), one tRPC client and one React Query cache. Keyed by the session by its
 * parent, so signing out drops all three and nothing of one user's data outlives them.
 */
export function TandemProvider({ url, getToken, onUnauthorized, children, pollIntervalMs, retryDelayMs, WebSocket }: TandemProviderProps) {
  const [state] = useState((): SessionState => {
    // React's development StrictMode calls this twice and keeps one: reuse the first, so the
    // discarded call does not leave a WebSocket open.
    const key = `${url} ${getToken()}`;
    const existing = sessions.get(key);
    if (existing) return existing;
    const tandem = createTandemLink({ url, getToken, pollIntervalMs, retryDelayMs, WebSocket });
    const onError = (error: unknown) => {
      if (error instanceof TRPCClientError && (error.data as { code?: string } | undefined)?.code === 'UNAUTHORIZED') onUnauthorized();
    };
    const queryClient = new QueryClient({
      defaultOptions: {
        queries: {
          // The event stream keeps cached records current; a refetch is a fallback, not the mechanism.
          staleTime: 30_000,
          retry: (count, error) => !isClientError(error) && count < 3,
        },
        mutations: { onError },
      },
    });
    queryClient.getQueryCache().subscribe((event) => {
      if (event.type === 'updated' && event.action.type === 'error') onError(event.action.error);
    });
    const client = trpc.createClient({ links: [tandem.link] });
    const created = { key, tandem, queryClient, client, closeTimer: undefined as ReturnType<typeof setTimeout> | undefined };
    sessions.set(key, created);
    return created;
  });

  useEffect(() => {
    const { tandem } = state;
    // React's development double mount runs this cleanup and then the effect again: close only if it stays unmounted.
    clearTimeout(state.closeTimer);
    // "Reconnecting" means the socket is down and no HTTP call has told yet whether the server
    // still answers. Ask it (a tiny query over HTTP), so the indicator soon says "Live via
    // polling" or "Offline" even when nothing else happens to make a request.
    let probeTimer: ReturnType<typeof setTimeout> | undefined;
    const probe = () => {
      clearTimeout(probeTimer);
      if (tandem.connection.state !== 'reconnecting') return;
      probeTimer = setTimeout(() => {
        void state.client.events.head
          .query()
          .catch(() => undefined)
          .finally(probe);
      }, 1_500);
    };
    const unsubscribeProbe = tandem.connection.subscribe(probe);
    // Back online or back to the tab: try the socket at once instead of waiting for the backoff.
    const stopReconnectOnReturn = reconnectOnReturn(tandem.connection);
    return () => {
      unsubscribeProbe();
      clearTimeout(probeTimer);
      stopReconnectOnReturn();
      state.closeTimer = setTimeout(() => {
        sessions.delete(state.key);
        void tandem.close();
        state.queryClient.clear();
      });
    };
  }, [state]);

  return (
    <ConnectionContext.Provider value={state.tandem.connection}>
      <trpc.Provider client={state.client} queryClient={state.queryClient}>
        <QueryClientProvider client={state.queryClient}>{children}</QueryClientProvider>
      </trpc.Provider>
    </ConnectionContext.Provider>
  );
}

export function useConnection(): ConnectionStatus {
  const connection = useContext(ConnectionContext);
  if (!connection) throw new Error('useConnection outside TandemProvider');
  return connection;
}

/** The connection's state and attempt count, re-rendering on each change. */
export function useConnectionSnapshot(): ConnectionSnapshot {
  const connection = useConnection();
  const state = useSyncExternalStore(connection.subscribe, () => connection.state);
  const attempt = useSyncExternalStore(connection.subscribe, () => connection.attempt);
  return { state, attempt };
}
