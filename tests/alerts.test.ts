import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepAlerts } from '../src/server/alerts/rules.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  // The scheduler's own timer is far off: the tests run its passes themselves.
  t = await createTestApp({ config: { SCHEDULER_INTERVAL_MS: 3_600_000, ALERT_SWEEP_MS: 1 } });
});
afterAll(async () => {
  await t[Symbol.asyncDispose]();
});

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

async function alertKinds(email: 'alice@acme.test' | 'carol@globex.test') {
  return (await (await t.caller(email)).alerts.list()).items.map((alert) => [alert.kind, alert.recordId]);
}

describe('alerts', () => {
  it('a listing price drop raises one alert (with its event and the owner’s notification) in the same change', async () => {
    const alice = await t.caller('alice@acme.test');
    const listing = await alice.listings.create({ address: '12 Harbor Blvd', listPriceCents: 500_000_00 });
    const head = Number((await alice.events.head()).lastEventId);
    await alice.listings.update({ id: listing.id, expectedVersion: 1, patch: { listPriceCents: 480_000_00 } });
    await alice.listings.update({ id: listing.id, expectedVersion: 2, patch: { listPriceCents: 490_000_00 } });

    expect(await alertKinds('alice@acme.test')).toEqual([['listing_price_drop', listing.id]]);
    const events = (await alice.events.since({ lastEventId: String(head), modules: ['listings', 'alerts'] })).events;
    expect(events.map((event) => event.type)).toEqual(['LISTING_UPDATED', 'alert:new', 'LISTING_UPDATED']);
    expect(events[1]).toMatchObject({ data: { alert: { title: 'Price drop: 12 Harbor Blvd $500,000 → $480,000' } } });
    const notes = await alice.notifications.list();
    expect(notes.items[0]).toMatchObject({ kind: 'alert', module: 'listings', recordId: listing.id });
    expect(await alertKinds('carol@globex.test')).toEqual([]);
  });

  it('an escrow closing within 3 days while not pending raises one alert, on change or as time passes', async () => {
    const alice = await t.caller('alice@acme.test');
    const soon = await alice.escrows.create({ propertyAddress: '1 Soon St', status: 'in_escrow', closingDate: inDays(2) });
    await alice.escrows.update({ id: soon.id, expectedVersion: 1, patch: { escrowNumber: 'ESC-1' } });
    await alice.escrows.create({ propertyAddress: '2 Pending St', status: 'pending', closingDate: inDays(2) });
    const later = await alice.escrows.create({ propertyAddress: '3 Later St', status: 'opened', closingDate: inDays(10) });
    const escrowAlerts = async () => (await alertKinds('alice@acme.test')).filter(([kind]) => kind === 'escrow_closing');
    expect(await escrowAlerts()).toEqual([['escrow_closing', soon.id]]);

    // Eight days on, the later one is in its last three days: the sweep raises it, once.
    const future = new Date(Date.now() + 8 * 86_400_000);
    expect(await sweepAlerts(t.deps, future)).toBe(1);
    expect(await sweepAlerts(t.deps, future)).toBe(0);
    expect(await escrowAlerts()).toEqual([
      ['escrow_closing', later.id],
      ['escrow_closing', soon.id],
    ]);
  });

  it('a lead still new 24 h after it came in raises one alert for its assignee', async () => {
    const alice = await t.caller('alice@acme.test');
    const bobId = t.users['bob@acme.test'].id;
    const waiting = await alice.leads.create({ name: 'Waiting Walsh', assigneeId: bobId });
    const contacted = await alice.leads.create({ name: 'Called Kim', status: 'contacted' });
    const fresh = await alice.leads.create({ name: 'Fresh Fox' });
    const dayAgo = new Date(Date.now() - 25 * 3_600_000);
    await t.deps.db.lead.updateMany({ where: { id: { in: [waiting.id, contacted.id] } }, data: { createdAt: dayAgo } });

    await t.app.scheduler.runOnce();
    await t.app.scheduler.runOnce();
    const leadAlerts = (await alertKinds('alice@acme.test')).filter(([kind]) => kind === 'lead_uncontacted');
    expect(leadAlerts).toEqual([['lead_uncontacted', waiting.id]]);
    expect(leadAlerts.flat()).not.toContain(fresh.id);
    const bobs = await (await t.caller('bob@acme.test')).notifications.list();
    expect(bobs.items[0]).toMatchObject({ kind: 'alert', title: 'Lead not contacted within 24 h: Waiting Walsh', recordId: waiting.id });
  });
});
