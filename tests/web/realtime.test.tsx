// @vitest-environment jsdom
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { recordApi } from '../../src/client/web/modules/api.ts';
import type { CachedRecord } from '../../src/client/web/realtime/patch.ts';
import { useFieldUpdate, type SaveOutcome } from '../../src/client/web/modules/useFieldUpdate.ts';
import { useRealtime } from '../../src/client/web/realtime/useRealtime.ts';
import { SessionContext } from '../../src/client/web/session/SessionContext.tsx';
import { TandemProvider } from '../../src/client/web/TandemProvider.tsx';
import type { PublicUser } from '../../src/shared/auth.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

afterEach(() => cleanup());

function Escrow({ id, live, onReady }: { id: string; live: boolean; onReady?: (save: ReturnType<typeof useFieldUpdate>['save']) => void }) {
  const query = recordApi('escrows').byId.useQuery({ id });
  const record: CachedRecord | undefined = query.data;
  const { save } = useFieldUpdate('escrows', id);
  onReady?.(save);
  return (
    <>
      {live ? <Realtime /> : null}
      <p data-testid="record">{record ? `v${record.version} ${String(record.purchasePriceCents)} ${String(record.escrowNumber ?? '-')}` : 'loading'}</p>
    </>
  );
}

function Realtime() {
  useRealtime(['escrows'], { userId: 'me' });
  return null;
}

async function mount(server: TestServer, user: PublicUser, ui: React.ReactNode) {
  const token = await server.tokenFor(user.email as 'bob@acme.test');
  return render(
    <SessionContext.Provider value={{ token, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), user, signOut: () => undefined }}>
      <TandemProvider
        url={server.server.url}
        getToken={() => token}
        onUnauthorized={() => undefined}
        WebSocket={WebSocket as unknown as typeof globalThis.WebSocket}
        retryDelayMs={() => 50}
        pollIntervalMs={50}
      >
        {ui}
      </TandemProvider>
    </SessionContext.Provider>,
  );
}

describe('useRealtime with the real server', () => {
  it("patches an open record from another user's events, in order", async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = await alice.escrows.create({ propertyAddress: '1 Live St', purchasePriceCents: 100 });
    await mount(server, server.users['bob@acme.test'], <Escrow id={escrow.id} live />);
    await vi.waitFor(() => expect(screen.getByTestId('record').textContent).toBe('v1 100 -'));
    // Wait until the subscription has started (it refetches once when it starts).
    await vi.waitFor(() => expect(server.server.connectionCount()).toBe(1));

    await alice.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { purchasePriceCents: 200 } });
    await alice.escrows.update({ id: escrow.id, expectedVersion: 2, patch: { escrowNumber: 'E-9' } });
    await vi.waitFor(() => expect(screen.getByTestId('record').textContent).toBe('v3 200 E-9'), { timeout: 2_000 });
  });
});

describe('useFieldUpdate', () => {
  it('merges over a change to another field that this page had not seen, and reports a conflict on the same field', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = await alice.escrows.create({ propertyAddress: '2 Stale Rd', purchasePriceCents: 100 });
    let save!: ReturnType<typeof useFieldUpdate>['save'];
    // No realtime: this page stays on version 1 while alice moves on.
    await mount(server, server.users['bob@acme.test'], <Escrow id={escrow.id} live={false} onReady={(fn) => (save = fn)} />);
    await vi.waitFor(() => expect(screen.getByTestId('record').textContent).toBe('v1 100 -'));

    await alice.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { escrowNumber: 'ALICE' } });
    let outcome!: SaveOutcome;
    await act(async () => {
      outcome = await save('purchasePriceCents', 300, { value: 100, version: 1 });
    });
    expect(outcome.type).toBe('saved');
    expect(await alice.escrows.byId({ id: escrow.id })).toMatchObject({ version: 3, purchasePriceCents: 300, escrowNumber: 'ALICE' });
    await vi.waitFor(() => expect(screen.getByTestId('record').textContent).toBe('v3 300 ALICE'));

    await alice.escrows.update({ id: escrow.id, expectedVersion: 3, patch: { purchasePriceCents: 400 } });
    await act(async () => {
      outcome = await save('purchasePriceCents', 500, { value: 300, version: 3 });
    });
    expect(outcome).toMatchObject({ type: 'conflict', mine: 500, current: { version: 4, purchasePriceCents: 400 } });
    // Rolled back to the saved state, not left on the optimistic value.
    await vi.waitFor(() => expect(screen.getByTestId('record').textContent).toBe('v4 400 ALICE'));
    expect((await alice.escrows.byId({ id: escrow.id })).purchasePriceCents).toBe(400);
  });

  it('shows the value at once and rolls it back when the server refuses it', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = await alice.escrows.create({ propertyAddress: '3 Refused Ave', purchasePriceCents: 100 });
    let save!: ReturnType<typeof useFieldUpdate>['save'];
    await mount(server, server.users['bob@acme.test'], <Escrow id={escrow.id} live={false} onReady={(fn) => (save = fn)} />);
    await vi.waitFor(() => expect(screen.getByTestId('record').textContent).toBe('v1 100 -'));

    // Every text the record shows, so a short-lived optimistic value is seen however fast the server answers.
    const shown: string[] = [];
    const record = screen.getByTestId('record');
    const observer = new MutationObserver(() => shown.push(record.textContent ?? ''));
    observer.observe(record, { childList: true, subtree: true, characterData: true });
    let pending!: Promise<SaveOutcome>;
    act(() => {
      pending = save('purchasePriceCents', -5, { value: 100, version: 1 });
    });
    await vi.waitFor(() => expect(shown).toContain('v1 -5 -'));
    observer.disconnect();
    let outcome!: SaveOutcome;
    await act(async () => {
      outcome = await pending;
    });
    expect(outcome.type).toBe('error');
    await vi.waitFor(() => expect(screen.getByTestId('record').textContent).toBe('v1 100 -'));
  });
});
