import { describe, expect, it } from 'vitest';
import { openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { thisWeek } from '../helpers/dates.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

describe('teams in the web app', () => {
  it('an admin makes a team with its own capacity; the dashboard follows it and moves live when its work is scheduled', async () => {
    await using server = await startTestServer({ perModule: 1 });
    await using admin = await openBrowser();
    admin.page.setDefaultTimeout(5_000);
    await signIn(admin.page, server.server.url, 'alice@acme.test');
    await admin.page.goto(`${server.server.url}/team`);
    const form = admin.page.getByRole('form', { name: 'New team' });
    await form.getByLabel('New team').fill('North crew');
    await form.getByRole('button', { name: 'Create' }).click();
    const team = admin.page.getByTestId('team-North crew');
    await team.waitFor({ timeout: 5_000 });
    await team.getByLabel('Add a person to North crew').selectOption({ label: 'Bob Brooks' });
    await team.getByRole('list', { name: 'People in North crew' }).getByText('Bob Brooks').waitFor({ timeout: 5_000 });
    const hours = admin.page.getByLabel('Hours a week for Bob Brooks');
    await hours.fill('20');
    await hours.press('Enter');
    const bobId = server.users['bob@acme.test'].id;
    await expect.poll(async () => (await server.deps.db.user.findUniqueOrThrow({ where: { id: bobId } })).weeklyCapacityHours, { timeout: 5_000 }).toBe(20);

    await admin.page.goto(`${server.server.url}/dashboard`);
    await admin.page.getByLabel('Team', { exact: true }).selectOption({ label: 'North crew' });
    await admin.page.getByRole('heading', { name: 'North crew this week' }).waitFor({ timeout: 5_000 });
    const bobRow = admin.page.locator(`[data-testid="crew-row"][data-user="${bobId}"]`);
    await expect.poll(() => admin.page.getByTestId('crew-row').count(), { timeout: 5_000 }).toBe(1);
    expect(await bobRow.textContent()).toContain('/ 20 h');

    // Work scheduled for Bob this week: his row and his team's move without a reload.
    const api = await server.caller('alice@acme.test');
    await api.jobs.create({ title: 'Roof inspection', assigneeId: bobId, scheduledAt: thisWeek(), estimatedHours: 25, status: 'scheduled' });
    // 25 h or more against 20: over capacity, shown as such.
    await expect.poll(async () => Number((await bobRow.locator('td').first().textContent())?.split(' / ')[0]), { timeout: 5_000, interval: 50 }).toBeGreaterThanOrEqual(25);
    await expect.poll(async () => (await bobRow.locator('td.over').count()) > 0, { timeout: 5_000, interval: 50 }).toBe(true);
    const teamRow = admin.page.getByTestId('team-row').filter({ hasText: 'North crew' });
    expect(await teamRow.textContent()).toContain('/ 20 h');
    await screenshot(admin.page, 'team-dashboard');
    expect(admin.errors()).toEqual([]);
  });
});
