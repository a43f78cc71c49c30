import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULE_NAMES } from '../../src/shared/modules.ts';
import { openBrowser, screenshot, SCREENSHOTS, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

describe('organizations', () => {
  it("carol (Globex) never sees Acme's records, in lists, by URL or live", async () => {
    await using server = await startTestServer({ perModule: 4 });
    const alice = await server.caller('alice@acme.test');
    const carolApi = await server.caller('carol@globex.test');
    await using carol = await openBrowser();
    await signIn(carol.page, server.server.url, 'carol@globex.test');
    for (const module of MODULE_NAMES) {
      await carol.page.goto(`${server.server.url}/${module}`);
      const ours = (await carolApi[module].list({ limit: 200 })).items.map((item) => item.id).sort();
      const acme = (await alice[module].list({ limit: 200 })).items.map((item) => item.id);
      await expect.poll(async () => (await carol.page.locator('tbody tr[data-id]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-id')))).sort()).toEqual(ours);
      expect(acme.length).toBeGreaterThan(0);
    }

    const acmeEscrow = await alice.escrows.create({ propertyAddress: '1 Acme Secret Street' });
    await carol.page.goto(`${server.server.url}/escrows`);
    await carol.page.locator('tbody tr[data-id]').first().waitFor();
    // A Globex change arrives live, proving the page listens; the Acme one never shows.
    const globex = await carolApi.escrows.create({ propertyAddress: '2 Globex Avenue' });
    await carol.page.locator(`tr[data-id="${globex.id}"]`).waitFor({ timeout: 2_000 });
    await alice.escrows.update({ id: acmeEscrow.id, expectedVersion: 1, patch: { purchasePriceCents: 1_00 } });
    const marker = await carolApi.escrows.create({ propertyAddress: '3 Globex Marker' });
    await carol.page.locator(`tr[data-id="${marker.id}"]`).waitFor({ timeout: 2_000 });
    expect(await carol.page.getByText('Acme Secret Street').count()).toBe(0);

    await carol.page.goto(`${server.server.url}/escrows/${acmeEscrow.id}`);
    await carol.page.getByText('This escrow does not exist or was deleted.').waitFor();
    expect(await carol.page.getByText('Acme Secret Street').count()).toBe(0);
    // NOT_FOUND answers are logged by Chromium as failed resources; nothing else may be.
    expect(carol.errors().filter((text) => !/Failed to load resource/.test(text))).toEqual([]);
  });
});

describe('the main pages', () => {
  it('signs in, lists every module, creates, edits and deletes a listing, and signs out', async () => {
    await using server = await startTestServer({ perModule: 6 });
    await using alice = await openBrowser();
    const { page } = alice;
    await page.goto(`${server.server.url}/`);
    await page.getByRole('heading', { name: 'Demo logins' }).waitFor();
    expect(await page.getByText('bob@acme.test').count()).toBe(1);
    await screenshot(page, 'signin');
    await signIn(page, server.server.url, 'alice@acme.test');
    expect(await page.evaluate(() => sessionStorage.getItem('tandem.session'))).toContain('"token"');

    for (const module of MODULE_NAMES) {
      await page
        .getByRole('navigation', { name: 'Modules' })
        .getByRole('link', { name: new RegExp(module, 'i') })
        .click();
      await page.locator('tbody tr[data-id]').first().waitFor();
      expect(await page.locator('tbody tr[data-id]').count()).toBe(6);
      await screenshot(page, `list-${module}`);
    }

    // Create a listing with money in dollars.
    await page.goto(`${server.server.url}/listings`);
    await page.getByRole('button', { name: 'New listing' }).click();
    await page.getByRole('heading', { name: 'New listing' }).waitFor();
    await page.getByRole('button', { name: 'Create listing' }).click();
    await page.getByText('Check the highlighted fields.').waitFor();
    await page.getByLabel('Address').fill('400 Garden Terrace');
    await page.getByLabel('List price').fill('875,000.50');
    await page.getByLabel('Beds').fill('3');
    await page.getByLabel('Status').selectOption('active');
    await screenshot(page, 'listing-create');
    await page.getByRole('button', { name: 'Create listing' }).click();
    await page.getByRole('heading', { name: '400 Garden Terrace' }).waitFor();
    expect(await page.locator('[data-field="listPriceCents"] .value').textContent()).toContain('$875,000.50');
    const id = page.url().split('/').pop()!;
    const api = await server.caller('alice@acme.test');
    expect(await api.listings.byId({ id })).toMatchObject({ listPriceCents: 875_000_50, beds: 3, status: 'active', version: 1 });

    // Keyboard-only inline edit: Enter opens (the value is a button), Escape cancels, Enter saves.
    await page.getByRole('button', { name: /^Beds/ }).focus();
    await page.keyboard.press('Enter');
    await page.getByLabel('Beds').fill('9');
    await page.keyboard.press('Escape');
    expect(await page.locator('[data-field="beds"] .value').textContent()).toContain('3');
    expect(await page.evaluate(() => document.activeElement?.closest('[data-field]')?.getAttribute('data-field'))).toBe('beds');
    await page.getByRole('button', { name: /^Beds/ }).click();
    await page.getByLabel('Beds').fill('4');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('version').textContent()).toBe('Version 2');
    // A value the schema refuses is explained and not sent.
    await page.getByRole('button', { name: /^Baths/ }).click();
    await page.getByLabel('Baths').fill('2.3');
    await page.keyboard.press('Enter');
    await page.locator('[data-field="baths"] .field-error').waitFor();
    await page.keyboard.press('Escape');
    await screenshot(page, 'listing-detail');
    expect((await api.listings.byId({ id })).version).toBe(2);

    // Search and status filter.
    await page.goto(`${server.server.url}/listings`);
    await page.getByLabel('Search listings').fill('Garden Terrace');
    await expect.poll(() => page.locator('tbody tr[data-id]').count()).toBe(1);
    await page.getByLabel('Search listings').fill('');
    await page.getByLabel('Filter by status').selectOption('sold');
    await expect.poll(async () => (await page.locator('tbody tr[data-id] [data-field="status"]').allTextContents()).every((text) => text === 'Sold')).toBe(true);
    expect(await page.locator(`tr[data-id="${id}"]`).count()).toBe(0);

    // Delete.
    await page.goto(`${server.server.url}/listings/${id}`);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('group', { name: 'Delete this listing?' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('heading', { name: 'Listings' }).waitFor();
    await expect
      .poll(() =>
        api.listings.byId({ id }).then(
          () => 'found',
          (error: { code?: string }) => error.code,
        ),
      )
      .toBe('NOT_FOUND');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('tandem.session'))).toBeNull();
    expect(alice.errors()).toEqual([]);

    // docs/WEB.md shows these (the README, list-escrows.png too): `UPDATE_SCREENSHOTS=1` refreshes them.
    if (!process.env.UPDATE_SCREENSHOTS) return;
    await mkdir('docs/screenshots', { recursive: true });
    for (const name of ['list-escrows', 'signin']) await copyFile(path.join(SCREENSHOTS, `${name}.png`), `docs/screenshots/${name}.png`);
  });
});
