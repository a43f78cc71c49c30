import { describe, expect, it } from 'vitest';
import { openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

describe('the dashboard', () => {
  it("moves by itself when someone adds work, and only for that person's org", async () => {
    await using server = await startTestServer({ perModule: 5 });
    const alice = await server.caller('alice@acme.test');
    await using bob = await openBrowser();
    await using carol = await openBrowser();
    await Promise.all([signIn(bob.page, server.server.url, 'bob@acme.test'), signIn(carol.page, server.server.url, 'carol@globex.test')]);
    for (const { page } of [bob, carol]) {
      await page.getByRole('navigation', { name: 'Modules' }).getByRole('link', { name: 'Dashboard' }).click();
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    }
    const acme = await alice.dashboard.counters();
    const globex = await (await server.caller('carol@globex.test')).dashboard.counters();
    await expect.poll(() => bob.page.getByTestId('open-jobs').textContent()).toBe(String(acme.openJobs));
    await expect.poll(() => carol.page.getByTestId('open-jobs').textContent()).toBe(String(globex.openJobs));
    expect(await bob.page.getByTestId('jobs-new').textContent()).toBe(String(acme.jobsByStatus.new));

    await alice.jobs.create({ title: 'Fix the porch light', status: 'new' });
    await expect.poll(() => bob.page.getByTestId('open-jobs').textContent(), { timeout: 2_000 }).toBe(String(acme.openJobs + 1));
    await expect.poll(() => bob.page.getByTestId('jobs-new').textContent(), { timeout: 2_000 }).toBe(String(acme.jobsByStatus.new + 1));
    await screenshot(bob.page, 'dashboard');
    expect(await carol.page.getByTestId('open-jobs').textContent()).toBe(String(globex.openJobs));
    for (const session of [bob, carol]) expect(session.errors()).toEqual([]);
  });
});
