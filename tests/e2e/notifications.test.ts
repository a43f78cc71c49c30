import { describe, expect, it } from 'vitest';
import { openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

describe('notifications', () => {
  it('a job bob assigns to alice rings her bell and shows a toast without a reload; opening it shows the job and clears the badge', async () => {
    await using server = await startTestServer();
    const bob = await server.caller('bob@acme.test');
    const alicesId = server.users['alice@acme.test'].id;
    const alicesName = server.users['alice@acme.test'].name;
    const job = await bob.jobs.create({ title: 'Fix the porch gate' });

    await using alice = await openBrowser();
    const { page } = alice;
    await signIn(page, server.server.url, 'alice@acme.test');
    const bell = page.getByTestId('bell');
    const badge = page.getByTestId('notification-badge');
    // Following her notifications (positioned in the log) before bob acts.
    await page.locator('[data-testid="bell"][data-listening="true"]').waitFor();
    expect(await badge.isHidden()).toBe(true);
    // A marker that a reload would lose.
    await page.evaluate(() => ((window as unknown as { stayedOpen: boolean }).stayedOpen = true));

    await bob.jobs.update({ id: job.id, expectedVersion: 1, patch: { assigneeId: alicesId } });

    await badge.filter({ hasText: /^1$/ }).waitFor({ state: 'visible', timeout: 5_000 });
    expect(await bell.getAttribute('aria-label')).toBe('Notifications, 1 unread');
    const toast = page.getByTestId('toast').filter({ hasText: 'Fix the porch gate' });
    await toast.waitFor({ state: 'visible', timeout: 5_000 });
    expect(await page.getByRole('status', { name: 'New notifications' }).textContent()).toContain('Fix the porch gate');
    expect(await page.evaluate(() => (window as unknown as { stayedOpen?: boolean }).stayedOpen)).toBe(true);
    await toast.evaluate((node) => Promise.all(node.getAnimations().map((animation) => animation.finished)));
    await screenshot(page, 'notification-toast');

    await bell.click();
    const panel = page.getByRole('dialog', { name: 'Notifications' });
    await panel.waitFor();
    const item = panel.getByRole('button', { name: /Fix the porch gate/ });
    // Unread: bold.
    expect(await item.locator('.notification-title').evaluate((node) => getComputedStyle(node).fontWeight)).toBe('700');
    await screenshot(page, 'notifications-panel');

    await item.click();
    await page.getByRole('heading', { name: 'Fix the porch gate' }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/jobs/${job.id}`);
    await badge.waitFor({ state: 'hidden', timeout: 5_000 });
    expect(await bell.getAttribute('aria-label')).toBe('Notifications');
    expect(await panel.count()).toBe(0);
    // The assignee is named, not shown as an id.
    await expect.poll(() => page.locator('[data-field="assigneeId"] .value').textContent()).toContain(`${alicesName} (you)`);
    // The server agrees: nothing unread.
    expect((await (await server.caller('alice@acme.test')).notifications.list()).unread).toBe(0);
    await screenshot(page, 'notification-opened');
    expect(alice.errors()).toEqual([]);
  });
});
