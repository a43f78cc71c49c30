import { beforeAll, describe, expect, it } from 'vitest';
import { buildWebApp, openBrowser, screenshot, signIn } from '../helpers/browser.ts';
import { startProxy } from '../helpers/proxy.ts';
import { startTestServer } from '../helpers/server.ts';

let web: Awaited<ReturnType<typeof buildWebApp>>;
beforeAll(async () => {
  web = await buildWebApp();
  return async () => web[Symbol.asyncDispose]();
});

describe('edits made offline', () => {
  it('survive a reload (which shows what was last seen), land once and in order when the API is back, and a conflict on landing asks the person', async () => {
    await using server = await startTestServer({ perModule: 1 });
    const alice = await server.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Fix the gate', notes: 'Call first', estimatedHours: 1 });
    await using proxy = await startProxy(server.server);
    await using bob = await openBrowser();
    // While the API is unreachable the page's calls fail: expected, and said in the console.
    bob.allow(/Failed to load resource|ERR_EMPTY_RESPONSE|ERR_CONNECTION|WebSocket/);
    bob.page.setDefaultTimeout(8_000);
    await signIn(bob.page, proxy.url, 'bob@acme.test');
    await bob.page.goto(`${proxy.url}/jobs/${job.id}`);
    await bob.page.getByRole('heading', { name: 'Fix the gate' }).waitFor({ timeout: 5_000 });

    proxy.setMode('api-down');
    await expect.poll(() => bob.page.getByTestId('connection').getAttribute('class'), { timeout: 10_000 }).toMatch(/tone-(offline|reconnecting)/);
    const change = async (label: string, value: string) => {
      await bob.page.getByRole('button', { name: new RegExp(`^${label}`) }).click();
      await bob.page.getByLabel(label).fill(value);
      await bob.page.locator('form.inline-edit').getByRole('button', { name: 'Save' }).click();
    };
    await change('Title', 'Fix the gate and the fence');
    await change('Estimated hours', '3');
    await change('Notes', 'Gate code 4411');
    const status = bob.page.getByTestId('sync-status');
    await expect.poll(() => status.textContent(), { timeout: 5_000 }).toBe('3 changes waiting to sync');
    expect(await bob.page.getByTestId('pending-title').textContent()).toContain('waiting to sync');
    await screenshot(bob.page, 'offline-waiting');

    // A reload while the API is still down: the edits are still there, counted.
    await bob.page.reload();
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe('3 changes waiting to sync');
    // It reads what it last saw, and says so; the kept edits show over it.
    await bob.page.getByTestId('offline-notice').waitFor({ timeout: 10_000 });
    await bob.page.getByRole('heading', { name: 'Fix the gate' }).waitFor({ timeout: 10_000 });
    expect(await bob.page.locator('[data-field="estimatedHours"] .value').textContent()).toContain('3');
    await screenshot(bob.page, 'offline-after-reload');
    // Meanwhile a colleague changes the notes.
    await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { notes: 'Dog in the yard' } });

    proxy.setMode('pass');
    // Title and hours land; the notes need Bob: someone else changed them.
    await expect.poll(() => status.textContent(), { timeout: 15_000, interval: 100 }).toBe('1 needs you');
    const conflict = bob.page.locator('[data-field="notes"]').getByTestId('conflict');
    await conflict.waitFor({ timeout: 10_000 });
    expect(await conflict.getByTestId('conflict-theirs').textContent()).toBe('Dog in the yard');
    await conflict.getByRole('button', { name: 'Use my value' }).click();
    await expect.poll(async () => status.count(), { timeout: 10_000 }).toBe(0);

    await expect.poll(async () => (await alice.jobs.byId({ id: job.id })).notes, { timeout: 10_000, interval: 100 }).toBe('Gate code 4411');
    const now = await alice.jobs.byId({ id: job.id });
    expect(now).toMatchObject({ title: 'Fix the gate and the fence', estimatedHours: 3, notes: 'Gate code 4411' });
    // Each edit once, in the order made (Alice's between them).
    const history = (await alice.jobs.history({ id: job.id })).items.reverse();
    expect(history.map((item) => [item.action, Object.keys(item.changes).join(), item.userId === server.users['bob@acme.test'].id])).toEqual([
      ['created', expect.any(String), false],
      ['updated', 'notes', false],
      ['updated', 'title', true],
      ['updated', 'estimatedHours', true],
      ['updated', 'notes', true],
    ]);
    await expect.poll(() => bob.page.getByTestId('version').textContent(), { timeout: 5_000 }).toBe('Version 5');
    expect(bob.errors()).toEqual([]);
  });
});
