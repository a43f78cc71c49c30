import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

const field = (page: Page, name: string) => page.locator(`[data-field="${name}"]`);
const version = (page: Page) => page.getByTestId('version').textContent();

async function openEditor(page: Page, label: string, text: string) {
  await page.getByRole('button', { name: new RegExp(`^${label}`) }).click();
  await page.getByLabel(label, { exact: true }).fill(text);
}

describe('two people editing one escrow at once', () => {
  it('keeps both edits to different fields, and shows the other value when both edit the same field', async () => {
    await using server = await startTestServer();
    const api = await server.caller('alice@acme.test');
    const escrow = await api.escrows.create({ propertyAddress: '9 Orchard Road', purchasePriceCents: 400_000_00, escrowNumber: 'ESC-1' });
    await using alice = await openBrowser();
    await using bob = await openBrowser();
    await Promise.all([signIn(alice.page, server.server.url, 'alice@acme.test'), signIn(bob.page, server.server.url, 'bob@acme.test')]);
    for (const { page } of [alice, bob]) {
      await page.goto(`${server.server.url}/escrows/${escrow.id}`);
      await page.getByRole('heading', { name: '9 Orchard Road' }).waitFor();
    }

    // Different fields, both editors opened on version 1.
    await openEditor(alice.page, 'Purchase price', '450000');
    await openEditor(bob.page, 'Escrow #', 'ESC-2026-42');
    await alice.page.getByLabel('Purchase price').press('Enter');
    // The live patch moves bob's page to version 2 under his open editor.
    await expect.poll(() => version(bob.page)).toBe('Version 2');
    await expect.poll(() => field(bob.page, 'purchasePriceCents').textContent()).toContain('$450,000.00');
    await bob.page.getByLabel('Escrow #').press('Enter');
    await expect.poll(() => version(bob.page)).toBe('Version 3');
    await expect.poll(() => version(alice.page)).toBe('Version 3');
    await expect.poll(() => field(alice.page, 'escrowNumber').textContent()).toContain('ESC-2026-42');
    expect(await bob.page.getByTestId('conflict').count()).toBe(0);
    const both = await api.escrows.byId({ id: escrow.id });
    expect(both).toMatchObject({ version: 3, purchasePriceCents: 450_000_00, escrowNumber: 'ESC-2026-42' });

    // The same field, both editors opened on version 3: the second to save is told, with alice's value.
    await openEditor(alice.page, 'Purchase price', '470000');
    await openEditor(bob.page, 'Purchase price', '480000');
    await alice.page.getByLabel('Purchase price').press('Enter');
    await expect.poll(() => version(bob.page)).toBe('Version 4');
    await bob.page.getByLabel('Purchase price').press('Enter');
    const conflict = bob.page.getByTestId('conflict');
    await conflict.waitFor();
    expect(await conflict.getAttribute('role')).toBe('alert');
    expect(await conflict.getByTestId('conflict-theirs').textContent()).toBe('$470,000.00');
    expect(await conflict.textContent()).toContain('$480,000.00');
    // Bob's optimistic value was rolled back to what is saved.
    await expect.poll(() => field(bob.page, 'purchasePriceCents').locator('.value').textContent()).toContain('$470,000.00');
    await screenshot(bob.page, 'escrow-conflict');
    expect((await api.escrows.byId({ id: escrow.id })).purchasePriceCents).toBe(470_000_00);

    // "Use my value" saves his on top of hers, knowingly.
    await conflict.getByRole('button', { name: 'Use my value' }).click();
    await expect.poll(() => version(alice.page)).toBe('Version 5');
    await expect.poll(() => field(alice.page, 'purchasePriceCents').locator('.value').textContent()).toContain('$480,000.00');
    expect((await api.escrows.byId({ id: escrow.id })).purchasePriceCents).toBe(480_000_00);
    // Both Activity panels say so: the edit replaced alice's version 4 knowingly.
    const overrides = (page: typeof alice.page) => page.getByTestId('activity-item').first().getByTestId('activity-overrides');
    await expect.poll(() => overrides(alice.page).textContent(), { timeout: 5_000 }).toContain('kept their own value over version 4, after a conflict');
    await expect.poll(() => overrides(bob.page).textContent(), { timeout: 5_000 }).toContain('kept your own value over version 4');

    for (const session of [alice, bob]) expect(session.errors()).toEqual([]);
  });

  it('tells the person looking at a record that it was deleted, and removes it from lists', async () => {
    await using server = await startTestServer();
    const api = await server.caller('alice@acme.test');
    const escrow = await api.escrows.create({ propertyAddress: '77 Quarry Street' });
    await using bob = await openBrowser();
    await using bobList = await openBrowser();
    await Promise.all([signIn(bob.page, server.server.url, 'bob@acme.test'), signIn(bobList.page, server.server.url, 'bob@acme.test')]);
    await bob.page.goto(`${server.server.url}/escrows/${escrow.id}`);
    await bob.page.getByRole('heading', { name: '77 Quarry Street' }).waitFor();
    await bobList.page.locator(`tr[data-id="${escrow.id}"]`).waitFor();

    await api.escrows.delete({ id: escrow.id });
    await bob.page.getByTestId('deleted-notice').waitFor({ timeout: 2_000 });
    expect(await bob.page.getByTestId('deleted-notice').textContent()).toContain(`This escrow was deleted by ${server.users['alice@acme.test'].name}`);
    expect(await bob.page.getByRole('button', { name: /^Purchase price/ }).isDisabled()).toBe(true);
    await bobList.page.locator(`tr[data-id="${escrow.id}"]`).waitFor({ state: 'detached', timeout: 2_000 });

    // A record created elsewhere appears at the top of the open list.
    const created = await api.escrows.create({ propertyAddress: '1 New Street' });
    await bobList.page.locator(`tr[data-id="${created.id}"]`).waitFor({ timeout: 2_000 });
    expect(await bobList.page.locator('tbody tr').first().getAttribute('data-id')).toBe(created.id);
    for (const session of [bob, bobList]) expect(session.errors()).toEqual([]);
  });
});
