import { describe, expect, it, vi } from 'vitest';
import { createHttpClient } from '../../src/client/trpc.ts';
import { saveField, type FieldSaveTarget } from '../../src/client/web/modules/save-field.ts';
import type { CachedRecord } from '../../src/client/web/realtime/patch.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** A one-record cache with bob's real HTTP client behind it, recording what was shown. */
async function bobsPage(server: TestServer, record: CachedRecord) {
  const token = await server.tokenFor('bob@acme.test');
  const api = createHttpClient(server.server.url, () => token);
  let cached: CachedRecord | undefined = record;
  const shown: CachedRecord[] = [];
  const target: FieldSaveTarget = {
    read: () => cached,
    write: (next) => {
      cached = next;
      shown.push(next);
    },
    cancel: async () => undefined,
    invalidate: vi.fn(),
    update: ({ expectedVersion, patch }) => api.escrows.update.mutate({ id: record.id, expectedVersion, patch }) as Promise<CachedRecord>,
  };
  return { target, shown, cached: () => cached };
}

describe('saveField', () => {
  it('shows the value at once, then the saved record', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = (await alice.escrows.create({ propertyAddress: '1 Quick St', purchasePriceCents: 100 })) as CachedRecord;
    const page = await bobsPage(server, escrow);
    const outcome = await saveField(page.target, 'purchasePriceCents', 250, { value: 100, version: 1 });
    expect(outcome).toMatchObject({ type: 'saved', record: { version: 2, purchasePriceCents: 250 } });
    expect(page.shown[0]).toMatchObject({ version: 1, purchasePriceCents: 250 });
    expect(page.cached()).toMatchObject({ version: 2, purchasePriceCents: 250, updatedById: server.users['bob@acme.test'].id });
  });

  it('merges over a change to another field that the page has not seen yet (both survive)', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = (await alice.escrows.create({ propertyAddress: '2 Stale Rd', purchasePriceCents: 100 })) as CachedRecord;
    const page = await bobsPage(server, escrow);
    await alice.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { escrowNumber: 'ALICE' } });
    const outcome = await saveField(page.target, 'purchasePriceCents', 300, { value: 100, version: 1 });
    expect(outcome.type).toBe('saved');
    expect(await alice.escrows.byId({ id: escrow.id })).toMatchObject({ version: 3, purchasePriceCents: 300, escrowNumber: 'ALICE' });
    expect(page.cached()).toMatchObject({ version: 3, purchasePriceCents: 300, escrowNumber: 'ALICE' });
  });

  it('sends the current version when the live page moved on under an open editor, and the edit started earlier otherwise', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = (await alice.escrows.create({ propertyAddress: '3 Moved On', purchasePriceCents: 100 })) as CachedRecord;
    const page = await bobsPage(server, escrow);
    const update = vi.spyOn(page.target, 'update');
    // The page is already on version 2 (alice changed the escrow number) when bob saves the price he started editing on version 1.
    const v2 = (await alice.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { escrowNumber: 'A' } })) as CachedRecord;
    page.target.write(v2);
    await saveField(page.target, 'purchasePriceCents', 300, { value: 100, version: 1 });
    expect(update).toHaveBeenCalledTimes(1);
    expect(update.mock.calls[0]![0].expectedVersion).toBe(2);
  });

  it('reports a conflict on the same field with the other value, and rolls the page back to it', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = (await alice.escrows.create({ propertyAddress: '4 Same Field', purchasePriceCents: 100 })) as CachedRecord;
    const page = await bobsPage(server, escrow);
    await alice.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { purchasePriceCents: 400 } });
    const outcome = await saveField(page.target, 'purchasePriceCents', 500, { value: 100, version: 1 });
    expect(outcome).toMatchObject({ type: 'conflict', mine: 500, current: { version: 2, purchasePriceCents: 400 } });
    expect(page.cached()).toMatchObject({ version: 2, purchasePriceCents: 400 });
    expect((await alice.escrows.byId({ id: escrow.id })).purchasePriceCents).toBe(400);
  });

  it('rolls back an optimistic value the server refuses, and refetches', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = (await alice.escrows.create({ propertyAddress: '5 Refused Ave', purchasePriceCents: 100 })) as CachedRecord;
    const page = await bobsPage(server, escrow);
    const outcome = await saveField(page.target, 'purchasePriceCents', -5, { value: 100, version: 1 });
    expect(outcome.type).toBe('error');
    expect(page.shown.map((record) => record.purchasePriceCents)).toEqual([-5, 100]);
    expect(page.target.invalidate).toHaveBeenCalled();
  });

  it('keeps a later version that an event already put in the cache', async () => {
    await using server = await startTestServer();
    const alice = await server.caller('alice@acme.test');
    const escrow = (await alice.escrows.create({ propertyAddress: '6 Race Lane', purchasePriceCents: 100 })) as CachedRecord;
    const page = await bobsPage(server, escrow);
    const update = page.target.update;
    page.target.update = async (input) => {
      const saved = await update(input);
      // Another change lands and its event is applied before our answer is.
      const later = (await alice.escrows.update({ id: escrow.id, expectedVersion: saved.version, patch: { escrowNumber: 'LATER' } })) as CachedRecord;
      page.target.write(later);
      return saved;
    };
    await saveField(page.target, 'purchasePriceCents', 200, { value: 100, version: 1 });
    expect(page.cached()).toMatchObject({ version: 3, purchasePriceCents: 200, escrowNumber: 'LATER' });
  });
});
