import { describe, expect, it } from 'vitest';
import { openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

describe("a record's Activity panel", () => {
  it('shows who changed what from what to what, and grows live when a colleague edits', async () => {
    await using server = await startTestServer({ perModule: 1 });
    const alice = await server.caller('alice@acme.test');
    const bob = await server.caller('bob@acme.test');
    const job = await alice.jobs.create({ title: 'Replace the boiler', estimatedHours: 3 });
    await using page = await openBrowser();
    await signIn(page.page, server.server.url, 'alice@acme.test');
    await page.page.goto(`${server.server.url}/jobs/${job.id}`);
    const activity = page.page.getByTestId('activity');
    const items = activity.getByTestId('activity-item');
    await expect.poll(() => items.count(), { timeout: 5_000 }).toBe(1);
    expect(await items.first().textContent()).toContain('You created this job');

    // Bob edits elsewhere: Alice's panel gains his change at the top, without a reload.
    await bob.jobs.update({ id: job.id, expectedVersion: 1, patch: { status: 'scheduled', estimatedHours: 4.5 } });
    await expect.poll(() => items.count(), { timeout: 5_000, interval: 50 }).toBe(2);
    const latest = items.first();
    expect(await latest.getAttribute('data-version')).toBe('2');
    const text = await latest.textContent();
    expect(text).toContain('Bob Brooks changed');
    expect(text).toMatch(/Status: New → Scheduled/i);
    expect(text).toContain('→ 4.5');

    // Her own edit in place appears too.
    await page.page.getByRole('button', { name: /Title/ }).click();
    await page.page.getByLabel('Title').fill('Replace the boiler and the tank');
    await page.page.getByLabel('Title').press('Enter');
    await expect.poll(() => items.count(), { timeout: 5_000, interval: 50 }).toBe(3);
    expect(await items.first().textContent()).toContain('Title: Replace the boiler → Replace the boiler and the tank');
    await screenshot(page.page, 'activity-panel');
    expect(page.errors()).toEqual([]);
  });

  it('an admin finds a deleted record, reads who deleted it and its history, and restores it as it was', async () => {
    await using server = await startTestServer({ perModule: 1 });
    const bob = await server.caller('bob@acme.test');
    const lead = await bob.leads.create({ name: 'Deleted Dana', source: 'Referral' });
    await bob.leads.update({ id: lead.id, expectedVersion: 1, patch: { score: 70 } });
    await bob.leads.delete({ id: lead.id });
    await using admin = await openBrowser();
    await signIn(admin.page, server.server.url, 'alice@acme.test');
    await admin.page.goto(`${server.server.url}/leads`);
    const deleted = admin.page.getByTestId('deleted-records');
    await deleted.getByText('Recently deleted leads').click();
    const entry = deleted.locator(`li[data-id="${lead.id}"]`);
    await entry.waitFor({ timeout: 5_000 });
    expect(await entry.textContent()).toContain('deleted by Bob Brooks');

    // Its page says who deleted it and keeps its history.
    await entry.getByRole('link', { name: 'Deleted Dana' }).click();
    await admin.page.getByTestId('deleted-notice').waitFor({ timeout: 5_000 });
    expect(await admin.page.getByTestId('deleted-notice').textContent()).toContain('Deleted by Bob Brooks');
    await expect.poll(() => admin.page.getByTestId('activity-item').count(), { timeout: 5_000 }).toBe(3);
    await admin.page.getByRole('button', { name: 'Restore' }).click();
    await admin.page.getByRole('heading', { name: 'Deleted Dana' }).waitFor({ timeout: 5_000 });
    await expect.poll(() => admin.page.getByTestId('version').textContent()).toBe('Version 4');
    expect(await admin.page.getByTestId('activity-item').first().textContent()).toContain('You restored this lead');
    expect((await bob.leads.byId({ id: lead.id })).score).toBe(70);
    expect(admin.errors()).toEqual([]);
  });

  it("a detail page follows its record's events only, a list its module's, and each still moves live", async () => {
    await using server = await startTestServer({ perModule: 1 });
    const alice = await server.caller('alice@acme.test');
    const watched = await alice.jobs.create({ title: 'Watched job' });
    const other = await alice.jobs.create({ title: 'Another job' });
    await using page = await openBrowser();
    /** tRPC's subscription requests and the events the socket brought, by record. */
    const subscribed: { path: string; input: unknown }[] = [];
    const received: string[] = [];
    page.page.on('websocket', (socket) => {
      socket.on('framesent', ({ payload }) => {
        for (const message of [JSON.parse(String(payload))].flat()) {
          if (message?.method === 'subscription') subscribed.push({ path: message.params.path, input: message.params.input });
        }
      });
      socket.on('framereceived', ({ payload }) => {
        for (const message of [JSON.parse(String(payload))].flat()) {
          const recordId = message?.result?.data?.data?.recordId;
          if (typeof recordId === 'string') received.push(recordId);
        }
      });
    });
    await signIn(page.page, server.server.url, 'alice@acme.test');
    await page.page.goto(`${server.server.url}/jobs/${watched.id}`);
    await expect.poll(() => subscribed.some((request) => request.path === 'jobs.onChange'), { timeout: 5_000 }).toBe(true);
    expect(subscribed.filter((request) => request.path === 'jobs.onChange').at(-1)!.input).toMatchObject({ id: watched.id });
    expect(subscribed.map((request) => request.path)).not.toContain('events.onAny');

    // Its own record's change arrives; another record's does not reach this page.
    await alice.jobs.update({ id: other.id, expectedVersion: 1, patch: { notes: 'Not for this page' } });
    await alice.jobs.update({ id: watched.id, expectedVersion: 1, patch: { notes: 'For this page' } });
    await expect.poll(() => page.page.getByTestId('version').textContent(), { timeout: 5_000 }).toBe('Version 2');
    expect(received).toContain(watched.id);
    expect(received).not.toContain(other.id);

    // The list follows the module, live.
    await page.page.getByRole('link', { name: '← Jobs' }).click();
    await expect
      .poll(() => subscribed.filter((request) => request.path === 'jobs.onChange').some((request) => !(request.input as { id?: string } | undefined)?.id), { timeout: 5_000 })
      .toBe(true);
    await page.page.locator(`tr[data-id="${other.id}"]`).waitFor({ timeout: 5_000 });
    const fresh = await alice.jobs.create({ title: 'Appears live' });
    await page.page.locator(`tr[data-id="${fresh.id}"]`).waitFor({ timeout: 5_000 });
    expect(page.errors()).toEqual([]);
  });
});
