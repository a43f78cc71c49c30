import { describe, expect, it } from 'vitest';
import { openBrowser, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

describe('team', () => {
  it('an admin invites, the invitee joins by the link, and is signed out everywhere once deactivated', async () => {
    await using server = await startTestServer();
    await using alice = await openBrowser();
    await using dave = await openBrowser();
    await signIn(alice.page, server.server.url, 'alice@acme.test');

    await alice.page.getByRole('link', { name: 'Team' }).click();
    await alice.page.getByRole('heading', { name: 'Team', exact: true }).waitFor();
    await alice.page.getByPlaceholder('name@example.com').fill('dave@acme.test');
    await alice.page.getByRole('button', { name: 'Invite' }).click();
    const link = (await alice.page.getByTestId('invite-link').textContent())!;
    expect(link).toMatch(new RegExp(`^${server.server.url}/invite/[A-Za-z0-9_-]+$`));
    await alice.page.getByText('Pending invitations').waitFor();

    await dave.page.goto(link);
    await dave.page.getByLabel('Your name').fill('Dave Doe');
    await dave.page.getByLabel(/Choose a password/).fill('dave-password');
    await dave.page.getByRole('button', { name: 'Join' }).click();
    await dave.page.getByRole('heading', { name: 'Escrows' }).waitFor();
    // An agent: no Team page.
    expect(await dave.page.getByRole('link', { name: 'Team' }).count()).toBe(0);

    await alice.page.reload();
    const row = alice.page.getByTestId('member-dave@acme.test');
    await row.getByRole('button', { name: 'Deactivate' }).click();
    await row.getByText('deactivated').waitFor();
    await dave.page.getByText('Your session ended. Sign in again.').waitFor({ timeout: 5_000 });

    await row.getByRole('button', { name: 'Reactivate' }).click();
    await row.getByText('active', { exact: true }).waitFor();
    for (const session of [alice, dave]) session.allow(/401|UNAUTHORIZED|Unauthorized/);
    expect(alice.errors()).toEqual([]);
  });

  it('changes the password from the account page, and signs out through the server', async () => {
    await using server = await startTestServer();
    await using bob = await openBrowser();
    await signIn(bob.page, server.server.url, 'bob@acme.test');
    const { createHttpClient } = await import('../../src/client/trpc.ts');
    const otherToken = await server.tokenFor('bob@acme.test');
    const other = createHttpClient(server.server.url, () => otherToken);
    expect((await other.auth.me.query()).email).toBe('bob@acme.test');

    await bob.page.getByRole('link', { name: 'Bob' }).click();
    await bob.page.getByLabel('Current password').fill('demo1234');
    await bob.page.getByLabel(/New password/).fill('bob-new-password');
    await bob.page.getByRole('button', { name: 'Change password' }).click();
    await bob.page.getByText(/Password changed/).waitFor();
    await expect(other.auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });

    const token = await bob.page.evaluate(() => JSON.parse(sessionStorage.getItem('tandem.session')!).token as string);
    await bob.page.getByRole('button', { name: 'Sign out' }).click();
    await bob.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await expect(createHttpClient(server.server.url, () => token).auth.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    expect(bob.errors()).toEqual([]);
  });
});
