import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAlertAudiences } from '../src/server/alerts/audience.ts';
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

  it("reaches everyone concerned: the record's team, else the assignee's teams, else the whole org; per kind, only the owner or the org", async () => {
    const alice = await t.caller('alice@acme.test');
    const [aliceId, bobId] = [t.users['alice@acme.test'].id, t.users['bob@acme.test'].id];
    const notifiedBy = async (recordId: string) =>
      (await t.deps.db.notification.findMany({ where: { recordId, kind: 'alert' }, select: { userId: true } })).map((row) => row.userId).sort();
    const dropPrice = async (teamId: string | null) => {
      const listing = await alice.listings.create({ address: `${Math.random()} Team Way`, listPriceCents: 300_000_00, teamId });
      await alice.listings.update({ id: listing.id, expectedVersion: 1, patch: { listPriceCents: 290_000_00 } });
      return listing.id;
    };
    // Unassigned, in no team: the whole org (Acme's two people), nobody of another org.
    expect(await notifiedBy(await dropPrice(null))).toEqual([aliceId, bobId].sort());
    // In a team: its people only.
    const crew = await alice.teams.create({ name: 'Listings crew' });
    await alice.teams.addMember({ teamId: crew.id, userId: bobId });
    expect(await notifiedBy(await dropPrice(crew.id))).toEqual([bobId]);

    // A lead's assignee in a team: the assignee and their team mates; in none, the assignee alone.
    const sweepLead = async (assigneeId: string) => {
      const lead = await alice.leads.create({ name: `Lead for ${assigneeId}`, assigneeId });
      await t.deps.db.lead.update({ where: { id: lead.id }, data: { createdAt: new Date(Date.now() - 25 * 3_600_000) } });
      await sweepAlerts(t.deps, new Date());
      return lead.id;
    };
    const mate = await alice.teams.create({ name: 'Lead desk' });
    await alice.teams.addMember({ teamId: mate.id, userId: bobId });
    await alice.teams.addMember({ teamId: mate.id, userId: aliceId });
    expect(await notifiedBy(await sweepLead(bobId))).toEqual([aliceId, bobId].sort());
    await alice.teams.removeMember({ teamId: mate.id, userId: aliceId });
    await alice.teams.removeMember({ teamId: crew.id, userId: bobId });
    await alice.teams.removeMember({ teamId: mate.id, userId: bobId });
    expect(await notifiedBy(await sweepLead(bobId))).toEqual([bobId]);

    // Configured per kind: price drops to their owner only.
    setAlertAudiences({ listing_price_drop: 'owner' });
    try {
      expect(await notifiedBy(await dropPrice(null))).toEqual([aliceId]);
    } finally {
      setAlertAudiences({});
    }
  });
});
