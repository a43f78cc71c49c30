import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/app.ts';
import { createLogger } from '../../src/server/logger.ts';
import { connectionBadge, openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startProxy } from '../helpers/proxy.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

/** What Chromium itself logs when a WebSocket or request is refused: expected in these tests. */
const NETWORK_NOISE = [/WebSocket connection to .* failed/, /Failed to load resource/, /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/];

const badgeText = (page: Page) => connectionBadge(page).textContent();
const price = (page: Page) => page.locator('[data-field="purchasePriceCents"] .value').textContent();

describe('the connection indicator and fallbacks', () => {
  it('falls back to polling when WebSockets are blocked, keeps updating, and goes live again when unblocked', { timeout: 90_000 }, async () => {
    await using server = await startTestServer();
    await using proxy = await startProxy(server.server);
    const api = await server.caller('alice@acme.test');
    const escrow = await api.escrows.create({ propertyAddress: '5 Relay Road', purchasePriceCents: 100_000_00 });
    await using bob = await openBrowser();
    for (const pattern of NETWORK_NOISE) bob.allow(pattern);
    await signIn(bob.page, proxy.url, 'bob@acme.test');
    await bob.page.goto(`${proxy.url}/escrows/${escrow.id}`);
    await bob.page.getByRole('heading', { name: '5 Relay Road' }).waitFor();
    expect(await connectionBadge(bob.page).getAttribute('class')).toContain('tone-live');

    proxy.setMode('no-websocket');
    await expect.poll(() => badgeText(bob.page), { timeout: 20_000 }).toBe('Live via polling');
    expect(await connectionBadge(bob.page).getAttribute('class')).toContain('tone-polling');
    await screenshot(bob.page, 'escrow-polling');
    await api.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { purchasePriceCents: 123_000_00 } });
    // The link polls every 2 s.
    await expect.poll(() => price(bob.page), { timeout: 5_000 }).toContain('$123,000.00');
    // Edits keep working over HTTP.
    await bob.page.getByRole('button', { name: /^Escrow #/ }).click();
    await bob.page.getByLabel('Escrow #').fill('POLL-1');
    await bob.page.getByLabel('Escrow #').press('Enter');
    await expect.poll(async () => (await api.escrows.byId({ id: escrow.id })).escrowNumber).toBe('POLL-1');

    proxy.setMode('pass');
    await expect.poll(() => badgeText(bob.page), { timeout: 30_000 }).toBe('Live');
    await api.escrows.update({ id: escrow.id, expectedVersion: 3, patch: { purchasePriceCents: 130_000_00 } });
    await expect.poll(() => price(bob.page), { timeout: 1_500 }).toContain('$130,000.00');
    expect(bob.errors()).toEqual([]);
  });

  it('shows Offline with a Reconnect button when nothing reaches the server, and reconnects on demand', { timeout: 90_000 }, async () => {
    await using server = await startTestServer();
    await using proxy = await startProxy(server.server);
    await using alice = await openBrowser();
    for (const pattern of NETWORK_NOISE) alice.allow(pattern);
    await signIn(alice.page, proxy.url, 'alice@acme.test');

    proxy.setMode('offline');
    await expect.poll(() => badgeText(alice.page), { timeout: 30_000 }).toBe('Offline');
    expect(await connectionBadge(alice.page).getAttribute('class')).toContain('tone-offline');
    const reconnect = alice.page.getByRole('button', { name: 'Reconnect' });
    await reconnect.waitFor();
    await screenshot(alice.page, 'offline');

    proxy.setMode('pass');
    // The app's own HTTP probe may bring it back before the click lands (the button then
    // leaves the page); either way it must end Live with the button gone.
    await reconnect.click({ timeout: 3_000 }).catch(async (error: unknown) => {
      if ((await reconnect.count()) > 0) throw error;
    });
    await expect.poll(() => badgeText(alice.page), { timeout: 5_000 }).toBe('Live');
    expect(await reconnect.count()).toBe(0);
    expect(alice.errors()).toEqual([]);
  });

  it('survives a server restart: leaves green, comes back green, and shows what changed meanwhile', { timeout: 90_000 }, async () => {
    await using server = await startTestServer();
    const api = await server.caller('alice@acme.test');
    const escrow = await api.escrows.create({ propertyAddress: '8 Restart Row', purchasePriceCents: 200_000_00 });
    await using bob = await openBrowser();
    for (const pattern of NETWORK_NOISE) bob.allow(pattern);
    await signIn(bob.page, server.server.url, 'bob@acme.test');
    await bob.page.goto(`${server.server.url}/escrows/${escrow.id}`);
    await bob.page.getByRole('heading', { name: '8 Restart Row' }).waitFor();

    await server.server.close();
    await expect.poll(() => badgeText(bob.page), { timeout: 10_000 }).not.toBe('Live');
    expect(await connectionBadge(bob.page).getAttribute('class')).toMatch(/tone-(reconnecting|offline)/);
    // Alice changes it while bob's page has no server (the database lives on).
    await api.escrows.update({ id: escrow.id, expectedVersion: 1, patch: { purchasePriceCents: 250_000_00 } });
    const created = await api.escrows.create({ propertyAddress: '9 Meanwhile Mews' });

    const restarted = await startServer(server.deps, { host: '127.0.0.1', port: server.server.port, logger: createLogger('silent') });
    try {
      await expect.poll(() => badgeText(bob.page), { timeout: 30_000 }).toBe('Live');
      await expect.poll(() => price(bob.page), { timeout: 5_000 }).toContain('$250,000.00');
      await expect.poll(() => bob.page.getByTestId('version').textContent()).toBe('Version 2');
      await bob.page.getByRole('link', { name: '← Escrows' }).click();
      await bob.page.locator(`tr[data-id="${created.id}"]`).waitFor({ timeout: 5_000 });
      expect(bob.errors()).toEqual([]);
    } finally {
      await restarted.close();
    }
  });
});
