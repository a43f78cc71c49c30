import { describe, expect, it } from 'vitest';
import { openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

describe('two people on one escrow', () => {
  it("shows alice's price change on bob's detail and list within a second, without a reload", async () => {
    await using server = await startTestServer({ perModule: 3 });
    const api = await server.caller('alice@acme.test');
    const escrow = await api.escrows.create({ propertyAddress: '12 Harbor Lane', purchasePriceCents: 500_000_00, status: 'opened' });
    await using alice = await openBrowser();
    await using bob = await openBrowser();
    await using bobList = await openBrowser();
    await Promise.all([
      signIn(alice.page, server.server.url, 'alice@acme.test'),
      signIn(bob.page, server.server.url, 'bob@acme.test'),
      signIn(bobList.page, server.server.url, 'bob@acme.test'),
    ]);

    await alice.page.goto(`${server.server.url}/escrows/${escrow.id}`);
    await bob.page.goto(`${server.server.url}/escrows/${escrow.id}`);
    for (const page of [alice.page, bob.page]) await page.getByRole('heading', { name: '12 Harbor Lane' }).waitFor();
    const bobPrice = bob.page.locator('[data-field="purchasePriceCents"] .value');
    await expect.poll(() => bobPrice.textContent()).toContain('$500,000.00');
    const bobRow = bobList.page.locator(`tr[data-id="${escrow.id}"]`);
    await expect.poll(() => bobRow.locator('[data-field="purchasePriceCents"]').textContent()).toBe('$500,000.00');
    await screenshot(bobList.page, 'escrows-list');

    await alice.page.getByRole('button', { name: /Purchase price/ }).click();
    await alice.page.getByLabel('Purchase price').fill('612,500');
    const reload = bob.page.waitForEvent('load', { timeout: 2_000 }).then(
      () => true,
      () => false,
    );
    const saved = Date.now();
    await alice.page.getByLabel('Purchase price').press('Enter');

    await expect.poll(() => bobPrice.textContent(), { timeout: 1_000, interval: 50 }).toContain('$612,500.00');
    await expect.poll(() => bobRow.locator('[data-field="purchasePriceCents"]').textContent(), { timeout: 1_000, interval: 50 }).toBe('$612,500.00');
    expect(Date.now() - saved).toBeLessThan(1_500);
    await expect.poll(() => bob.page.locator('[data-field="purchasePriceCents"]').getAttribute('class')).toContain('flash');
    await expect.poll(() => bob.page.getByTestId('version').textContent()).toBe('Version 2');
    await screenshot(bob.page, 'escrow-detail-live');
    expect(await reload).toBe(false);

    // Alice's own page shows her value and the new version, and did not flash for her own change.
    await expect.poll(() => alice.page.getByTestId('version').textContent()).toBe('Version 2');
    expect(await alice.page.locator('[data-field="purchasePriceCents"] .value').textContent()).toContain('$612,500.00');
    expect((await api.escrows.byId({ id: escrow.id })).purchasePriceCents).toBe(612_500_00);

    for (const session of [alice, bob, bobList]) expect(session.errors()).toEqual([]);
  });
});
