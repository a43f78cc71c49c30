import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openBrowser, screenshot, signIn, withBuiltWebApp, type BrowserSession } from '../helpers/browser.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

/** Bob signed in through the proxy; while the API is unreachable the page's calls fail: expected, and said in the console. */
async function bobThrough(proxy: TestProxy): Promise<BrowserSession> {
  const bob = await openBrowser();
  bob.allow(/Failed to load resource|ERR_EMPTY_RESPONSE|ERR_CONNECTION|WebSocket/);
  bob.page.setDefaultTimeout(8_000);
  try {
    await signIn(bob.page, proxy.url, 'bob@acme.test');
  } catch (error) {
    await bob[Symbol.asyncDispose]();
    throw error;
  }
  return bob;
}

/** The API gone (socket and HTTP), and the page saying so. */
async function takeApiAway(proxy: TestProxy, page: Page): Promise<void> {
  proxy.setMode('api-down');
  await expect.poll(() => page.getByTestId('connection').getAttribute('class'), { timeout: 10_000 }).toMatch(/tone-(offline|reconnecting)/);
}

async function deleteThisJob(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('group', { name: 'Delete this job?' }).getByRole('button', { name: 'Delete' }).click();
}

describe('edits made offline', () => {
  it('survive a reload (which shows what was last seen), land once and in order when the API is back, and a conflict on landing asks the person', async () => {
    await using server = await startTestServer({ perModule: 1 });
    const alice = await server.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Fix the gate', notes: 'Call first', estimatedHours: 1 });
    await using proxy = await startProxy(server.server);
    await using bob = await bobThrough(proxy);
    await bob.page.goto(`${proxy.url}/jobs/${job.id}`);
    await bob.page.getByRole('heading', { name: 'Fix the gate' }).waitFor({ timeout: 5_000 });

    await takeApiAway(proxy, bob.page);
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

  it('creates and deletes made offline survive a reload as pending rows, are counted, and land once when the API is back', async () => {
    await using server = await startTestServer({ perModule: 1 });
    const alice = await server.caller('alice@acme.test');
    const doomed = await alice.jobs.create({ title: 'Old shed' });
    await using proxy = await startProxy(server.server);
    await using bob = await bobThrough(proxy);
    // Seen while online, so kept for reading offline: the list and the record to delete.
    await bob.page.goto(`${proxy.url}/jobs`);
    await bob.page.locator(`tr[data-id="${doomed.id}"]`).getByRole('link', { name: 'Old shed' }).click();
    await bob.page.getByRole('heading', { name: 'Old shed' }).waitFor();

    await takeApiAway(proxy, bob.page);
    await deleteThisJob(bob.page);
    await bob.page.getByTestId('pending-delete').filter({ hasText: 'Will be deleted when back online' }).waitFor();
    const status = bob.page.getByTestId('sync-status');
    await expect.poll(() => status.textContent(), { timeout: 5_000 }).toBe('1 change waiting to sync');

    await bob.page.getByRole('link', { name: '← Jobs' }).click();
    await bob.page.getByRole('button', { name: 'New job' }).click();
    await bob.page.getByRole('heading', { name: 'New job' }).waitFor();
    await bob.page.getByLabel('Title').fill('Fix boiler');
    await bob.page.getByRole('button', { name: 'Create job' }).click();
    await bob.page.getByTestId('create-kept').filter({ hasText: 'Fix boiler' }).waitFor();
    await expect.poll(() => status.textContent(), { timeout: 5_000 }).toBe('2 changes waiting to sync');

    // A reload on the list while the API is still down: both kept, shown and counted.
    await bob.page.getByTestId('create-kept').getByRole('link', { name: 'jobs' }).click();
    await bob.page.reload();
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe('2 changes waiting to sync');
    await bob.page.getByTestId('offline-notice').waitFor({ timeout: 10_000 });
    const pendingRow = bob.page.locator('tr.pending-create');
    await pendingRow.waitFor({ timeout: 10_000 });
    expect(await pendingRow.textContent()).toContain('Fix boiler');
    expect(await pendingRow.getByTestId('pending-create-row').textContent()).toBe('Waiting to sync');
    // Not a link: there is no record to open yet.
    expect(await pendingRow.getByRole('link').count()).toBe(0);
    const doomedRow = bob.page.locator(`tr[data-id="${doomed.id}"]`);
    await doomedRow.getByTestId('pending-delete-row').filter({ hasText: 'Will be deleted when back online' }).waitFor({ timeout: 10_000 });
    expect(await doomedRow.getAttribute('class')).toContain('pending-delete');
    await status.click();
    const kept = bob.page.getByRole('list', { name: 'Changes kept on this device' });
    expect(await kept.getByRole('listitem').allTextContents()).toEqual([expect.stringContaining('Delete job: Old shed'), expect.stringContaining('New job: Fix boiler')]);
    await screenshot(bob.page, 'offline-create-delete');

    proxy.setMode('pass');
    await expect.poll(async () => status.count(), { timeout: 15_000, interval: 100 }).toBe(0);
    // On the server: one new job (whatever was resent), and the other gone.
    const created = (await alice.jobs.list({ search: 'Fix boiler', limit: 10 })).items;
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ createdById: server.users['bob@acme.test'].id });
    await expect(alice.jobs.byId({ id: doomed.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // The list now shows the server's word: the new job as a record, the old one gone.
    await bob.page.locator(`tr[data-id="${created[0]!.id}"]`).waitFor({ timeout: 10_000 });
    await expect.poll(() => doomedRow.count(), { timeout: 10_000 }).toBe(0);
    expect(await pendingRow.count()).toBe(0);
    expect(bob.errors()).toEqual([]);
  });

  it('a delete made offline of a record someone changed meanwhile asks on the record: "Delete anyway" deletes it', async () => {
    await using server = await startTestServer({ perModule: 1 });
    const alice = await server.caller('alice@acme.test');
    const job = await alice.jobs.create({ title: 'Broken window' });
    await using proxy = await startProxy(server.server);
    await using bob = await bobThrough(proxy);
    await bob.page.goto(`${proxy.url}/jobs/${job.id}`);
    await bob.page.getByRole('heading', { name: 'Broken window' }).waitFor();

    await takeApiAway(proxy, bob.page);
    await deleteThisJob(bob.page);
    await bob.page.getByTestId('pending-delete').waitFor();
    await alice.jobs.update({ id: job.id, expectedVersion: 1, patch: { notes: 'Glass ordered' } });

    proxy.setMode('pass');
    const status = bob.page.getByTestId('sync-status');
    await expect.poll(() => status.textContent(), { timeout: 15_000, interval: 100 }).toBe('1 needs you');
    const conflict = bob.page.getByTestId('delete-conflict');
    await conflict.waitFor({ timeout: 10_000 });
    expect(await conflict.textContent()).toContain('Alice');
    expect(await alice.jobs.byId({ id: job.id })).toMatchObject({ version: 2 });
    await screenshot(bob.page, 'offline-delete-conflict');
    await conflict.getByRole('button', { name: 'Delete anyway' }).click();
    await expect.poll(async () => status.count(), { timeout: 10_000 }).toBe(0);
    await expect(alice.jobs.byId({ id: job.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await bob.page.getByTestId('deleted-notice').waitFor({ timeout: 10_000 });
    expect(bob.errors()).toEqual([]);
  });
});
