import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { openBrowser, screenshot, SCREENSHOTS, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

const online = (page: Page) =>
  page
    .getByTestId('online')
    .locator('[data-user]')
    .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-user')));
const viewers = (page: Page) =>
  page
    .getByTestId('viewers')
    .locator('[data-user]')
    .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-user')));

describe('presence', () => {
  it('shows who is online and who else views a record, typing included; the avatar goes when she leaves; other orgs see none of it', async () => {
    await using server = await startTestServer();
    const api = await server.caller('alice@acme.test');
    const escrow = await api.escrows.create({ propertyAddress: '3 Company Court', purchasePriceCents: 300_000_00 });
    await using alice = await openBrowser();
    await using bob = await openBrowser();
    await using carol = await openBrowser();
    await Promise.all([
      signIn(alice.page, server.server.url, 'alice@acme.test'),
      signIn(bob.page, server.server.url, 'bob@acme.test'),
      signIn(carol.page, server.server.url, 'carol@globex.test'),
    ]);
    const alicesName = server.users['alice@acme.test'].name;
    const bobsName = server.users['bob@acme.test'].name;

    await expect.poll(() => online(bob.page)).toEqual([alicesName]);
    await expect.poll(() => online(alice.page)).toEqual([bobsName]);

    await bob.page.goto(`${server.server.url}/escrows/${escrow.id}`);
    await bob.page.getByRole('heading', { name: '3 Company Court' }).waitFor();
    await alice.page.goto(`${server.server.url}/escrows/${escrow.id}`);
    await alice.page.getByRole('heading', { name: '3 Company Court' }).waitFor();
    await expect.poll(() => viewers(bob.page)).toEqual([alicesName]);
    await expect.poll(() => viewers(alice.page)).toEqual([bobsName]);

    await alice.page.getByRole('button', { name: /^Purchase price/ }).click();
    await alice.page.getByLabel('Purchase price').pressSequentially('31');
    await expect.poll(() => bob.page.getByTestId('typing-purchasePriceCents').textContent()).toBe(`${alicesName} is typing…`);
    await screenshot(bob.page, 'escrow-presence');
    // The README and docs/WEB.md show it: `UPDATE_SCREENSHOTS=1` refreshes it.
    if (process.env.UPDATE_SCREENSHOTS) await copyFile(path.join(SCREENSHOTS, 'escrow-presence.png'), 'docs/screenshots/escrow-presence.png');
    await alice.page.getByLabel('Purchase price').press('Escape');
    await expect.poll(() => bob.page.getByTestId('typing-purchasePriceCents').textContent()).toBe('');

    // A change by alice is now named in bob's conflict message and on a delete.
    await alice.page.getByRole('link', { name: '← Escrows' }).click();
    await alice.page.getByRole('heading', { name: 'Escrows' }).waitFor();
    await expect.poll(() => viewers(bob.page)).toEqual([]);
    await expect.poll(() => online(bob.page)).toEqual([alicesName]);

    await alice.page.goto(`${server.server.url}/escrows/${escrow.id}`);
    await alice.page.getByRole('button', { name: 'Delete' }).click();
    await alice.page.getByRole('group', { name: 'Delete this escrow?' }).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => bob.page.getByTestId('deleted-notice').textContent()).toMatch(new RegExp(`deleted by ${alicesName}`));

    // Alice signs out: she goes from bob's header.
    await alice.page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => online(bob.page), { timeout: 10_000 }).toEqual([]);

    // Carol (Globex) saw none of Acme's people.
    expect(await online(carol.page)).toEqual([]);
    for (const session of [alice, bob, carol]) expect(session.errors()).toEqual([]);
  });
});
