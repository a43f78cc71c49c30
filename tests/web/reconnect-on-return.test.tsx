// @vitest-environment jsdom
import { cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { ConnectionState, ConnectionStatus } from '../../src/client/trpc.ts';
import { reconnectOnReturn } from '../../src/client/web/realtime/reconnect-on-return.ts';
import { TandemProvider, useConnection, useConnectionSnapshot } from '../../src/client/web/TandemProvider.tsx';
import { startTestServer } from '../helpers/server.ts';

afterEach(() => {
  cleanup();
  setVisibility('visible');
});

/** jsdom's page is always visible: let the test hide and show it. */
let visibility: DocumentVisibilityState = 'visible';
Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
function setVisibility(next: DocumentVisibilityState, target: EventTarget = document) {
  visibility = next;
  target.dispatchEvent(new Event('visibilitychange'));
}

function fakeConnection(state: ConnectionState) {
  const connection = { state, attempt: 1, subscribe: () => () => undefined, reconnect: vi.fn() } satisfies ConnectionStatus;
  return connection;
}

describe('reconnectOnReturn', () => {
  it.each(['reconnecting', 'fallback-polling', 'offline'] as const)('retries the socket when the tab comes back while %s', (state) => {
    const connection = fakeConnection(state);
    const stop = reconnectOnReturn(connection);
    setVisibility('hidden');
    expect(connection.reconnect).not.toHaveBeenCalled();
    setVisibility('visible');
    expect(connection.reconnect).toHaveBeenCalledOnce();
    // A second "visible" without having been hidden is not a return.
    setVisibility('visible');
    expect(connection.reconnect).toHaveBeenCalledOnce();
    stop();
  });

  it.each(['open', 'connecting', 'closed'] as const)('leaves the connection alone when it is %s', (state) => {
    const connection = fakeConnection(state);
    const stop = reconnectOnReturn(connection);
    setVisibility('hidden');
    setVisibility('visible');
    window.dispatchEvent(new Event('online'));
    expect(connection.reconnect).not.toHaveBeenCalled();
    stop();
  });

  it('retries when the network comes back, and stops listening when stopped', () => {
    const connection = fakeConnection('offline');
    const stop = reconnectOnReturn(connection);
    window.dispatchEvent(new Event('online'));
    expect(connection.reconnect).toHaveBeenCalledOnce();
    stop();
    window.dispatchEvent(new Event('online'));
    setVisibility('hidden');
    setVisibility('visible');
    expect(connection.reconnect).toHaveBeenCalledOnce();
  });

  it('counts a tab that starts hidden as hidden', () => {
    visibility = 'hidden';
    const connection = fakeConnection('reconnecting');
    const stop = reconnectOnReturn(connection);
    setVisibility('visible');
    expect(connection.reconnect).toHaveBeenCalledOnce();
    stop();
  });
});

let connection: ConnectionStatus | undefined;
function State() {
  connection = useConnection();
  const { state } = useConnectionSnapshot();
  return <p data-testid="state">{state}</p>;
}

describe('the app coming back to a hidden tab', () => {
  it('opens a new socket at once when its socket is down, and none when it is live', async () => {
    await using server = await startTestServer();
    const token = await server.tokenFor('alice@acme.test');
    let attempts = 0;
    let blocked = true;
    /** Counts sockets; refused while `blocked`. */
    class Counting extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        attempts += 1;
        super(blocked ? 'ws://127.0.0.1:1/trpc' : url, protocols);
      }
    }
    const { getByTestId } = render(
      // A backoff of an hour: any new attempt below is the tab's return, not the link's timer.
      <TandemProvider
        url={server.server.url}
        getToken={() => token}
        onUnauthorized={() => undefined}
        WebSocket={Counting as unknown as typeof globalThis.WebSocket}
        retryDelayMs={() => 3_600_000}
      >
        <State />
      </TandemProvider>,
    );
    await vi.waitFor(() => expect(getByTestId('state').textContent).toMatch(/^(reconnecting|fallback-polling)$/));
    const reconnect = vi.spyOn(connection!, 'reconnect');
    const before = attempts;

    setVisibility('hidden');
    blocked = false;
    expect(reconnect).not.toHaveBeenCalled();
    setVisibility('visible');
    expect(reconnect).toHaveBeenCalledOnce();
    // Without it the next attempt would be an hour away.
    await vi.waitFor(() => expect(getByTestId('state').textContent).toBe('open'));
    expect(attempts).toBe(before + 1);
    expect(server.server.connectionCount()).toBe(1);

    // Live: hiding and showing the tab changes nothing.
    setVisibility('hidden');
    setVisibility('visible');
    expect(reconnect).toHaveBeenCalledOnce();
    expect(getByTestId('state').textContent).toBe('open');
  });
});
