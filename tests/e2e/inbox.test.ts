import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/server/comms/webhooks.ts';
import { connectionBadge, openBrowser, screenshot, SCREENSHOTS, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startProxy } from '../helpers/proxy.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

withBuiltWebApp();

/** POSTs a Twilio-style form to one of the server's webhooks, signed with the org's secret. */
async function postWebhook(server: Pick<TestServer, 'server'>, secret: string, route: string, fields: Record<string, string>) {
  const body = new URLSearchParams(fields).toString();
  const timestamp = String(Math.floor(Date.now() / 1000));
  const response = await fetch(`${server.server.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-tandem-timestamp': timestamp, 'x-tandem-signature': signWebhook(secret, timestamp, body) },
    body,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { ok: boolean; conversationId?: string; messageId?: string };
}

const nav = (page: Page) => page.getByRole('navigation', { name: 'Modules' });

/** How long an action (a wait) took, in ms. */
async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  await action();
  return Date.now() - started;
}

describe('the inbox', () => {
  it('shows messages, ticks, typing and calls live, for everyone of the org', async () => {
    await using server = await startTestServer({ perModule: 3, communications: true, config: { SCHEDULER_INTERVAL_MS: 100, CALL_RING_TIMEOUT_MS: 8_000 } });
    const aliceApi = await server.caller('alice@acme.test');
    const settings = await aliceApi.webhooks.settings();
    const orgNumber = settings.numbers[0]!;
    const secret = settings.secret!;
    let sids = 0;
    const sid = (prefix: string) => `${prefix}${Date.now()}${++sids}`;
    const sms = (from: string, text: string) => postWebhook(server, secret, '/webhooks/sms', { From: from, To: orgNumber, Body: text, MessageSid: sid('SM') });

    await using alice = await openBrowser();
    await using bob = await openBrowser();
    await Promise.all([signIn(alice.page, server.server.url, 'alice@acme.test'), signIn(bob.page, server.server.url, 'bob@acme.test')]);

    // Bob watches the dashboard; alice opens the inbox.
    await nav(bob.page).getByRole('link', { name: 'Dashboard' }).click();
    const activeBefore = (await aliceApi.dashboard.counters()).activeConversations;
    await expect.poll(() => bob.page.getByTestId('active-conversations').textContent()).toBe(String(activeBefore));
    await nav(alice.page)
      .getByRole('link', { name: /^Inbox/ })
      .click();
    await alice.page.getByRole('heading', { name: 'Inbox' }).waitFor();
    const rows = alice.page.getByTestId('conversation-row');
    await rows.first().waitFor();
    const badge = alice.page.getByTestId('inbox-badge');
    const unreadBefore = Number((await badge.isVisible()) ? await badge.locator('[aria-hidden]').textContent() : 0);
    await alice.page.evaluate(() => ((window as unknown as { stayedOpen: boolean }).stayedOpen = true));

    // A new contact writes: the conversation appears at the top, unread, within a second.
    const first = await sms('+15557001234', 'Hello, is 12 Elm St still for sale?');
    const topRow = rows.first();
    const appeared = await timed(() => topRow.filter({ hasText: 'Hello, is 12 Elm St still for sale?' }).waitFor({ timeout: 1_000 }));
    expect(appeared).toBeLessThan(1_000);
    expect(await topRow.getAttribute('data-id')).toBe(first.conversationId);
    expect(await topRow.getByTestId('unread-count').textContent()).toContain('1 unread');
    await expect.poll(() => badge.locator('[aria-hidden]').textContent(), { timeout: 1_000 }).toBe(String(unreadBefore + 1));
    // Bob's dashboard counts it.
    await expect.poll(() => bob.page.getByTestId('active-conversations').textContent(), { timeout: 2_000 }).toBe(String(activeBefore + 1));

    // Alice opens it: the message shows and the conversation is read.
    await topRow.click();
    const thread = alice.page.getByTestId('thread');
    await thread.getByTestId('message').filter({ hasText: 'Hello, is 12 Elm St still for sale?' }).waitFor();
    await topRow.getByTestId('unread-count').waitFor({ state: 'hidden', timeout: 2_000 });
    await expect.poll(() => server.deps.db.conversation.findUniqueOrThrow({ where: { id: first.conversationId! } }).then((row) => row.unreadCount)).toBe(0);

    // A seeded conversation gets a message: it moves to the top with its unread badge.
    const seeded = await aliceApi.conversations.list({ status: 'open', limit: 50 });
    const other = seeded.items.find((conversation) => conversation.id !== first.conversationId && conversation.contactPhone)!;
    await sms(other.contactPhone!, 'Can we move the viewing to Friday?');
    await expect.poll(() => rows.first().getAttribute('data-id'), { timeout: 1_000 }).toBe(other.id);
    await rows.first().getByTestId('unread-count').waitFor({ timeout: 1_000 });

    // The open conversation's contact writes again: it shows in the open thread within a second, without a reload, and is read at once.
    await sms('+15557001234', 'We would love to see it this weekend.');
    const live = await timed(() => thread.getByTestId('message').filter({ hasText: 'We would love to see it this weekend.' }).waitFor({ timeout: 1_000 }));
    expect(live).toBeLessThan(1_000);
    await expect.poll(() => rows.first().getAttribute('data-id'), { timeout: 1_000 }).toBe(first.conversationId);
    await expect.poll(() => server.deps.db.message.count({ where: { conversationId: first.conversationId!, direction: 'inbound', status: 'read' } }), { timeout: 3_000 }).toBe(2);

    // Alice replies (Enter sends, Shift+Enter is a new line): her bubble shows ✓.
    const composer = thread.getByLabel('Reply');
    await composer.fill('Yes, it is!');
    await composer.press('Shift+Enter');
    await composer.pressSequentially('Saturday at 10?');
    await composer.press('Enter');
    expect(await composer.inputValue()).toBe('');
    const reply = thread.getByTestId('message').filter({ hasText: 'Saturday at 10?' });
    await reply.and(alice.page.locator('[data-status="sent"]')).waitFor({ timeout: 2_000 });
    expect(await reply.getByTestId('ticks').textContent()).toBe('✓Sent');
    expect(await reply.locator('.bubble-body').textContent()).toBe('Yes, it is!\nSaturday at 10?');
    expect(await thread.getByTestId('message').filter({ hasText: 'Saturday at 10?' }).count()).toBe(1);

    // The carrier reports delivery, then reading: ✓✓, then blue ✓✓.
    const stored = await server.deps.db.message.findFirstOrThrow({ where: { body: 'Yes, it is!\nSaturday at 10?' } });
    await postWebhook(server, secret, '/webhooks/status', { From: orgNumber, MessageSid: stored.providerSid!, MessageStatus: 'delivered' });
    await reply.and(alice.page.locator('[data-status="delivered"]')).waitFor({ timeout: 1_000 });
    expect(await reply.getByTestId('ticks').textContent()).toBe('✓✓Delivered');
    const grey = await reply.getByTestId('ticks').evaluate((node) => getComputedStyle(node).color);
    await postWebhook(server, secret, '/webhooks/status', { From: orgNumber, MessageSid: stored.providerSid!, MessageStatus: 'read' });
    await reply.and(alice.page.locator('[data-status="read"]')).waitFor({ timeout: 1_000 });
    const blue = await reply.getByTestId('ticks').evaluate((node) => getComputedStyle(node).color);
    expect(blue).not.toBe(grey);
    expect(blue).toBe('rgb(14, 165, 233)');
    // A late "delivered" does not take the blue ticks back.
    await postWebhook(server, secret, '/webhooks/status', { From: orgNumber, MessageSid: stored.providerSid!, MessageStatus: 'delivered' });
    expect(await reply.getAttribute('data-status')).toBe('read');

    // Bob opens the same conversation and types: alice sees it, and sees him there.
    await bob.page.goto(`${server.server.url}/inbox/${first.conversationId}`);
    const bobsThread = bob.page.getByTestId('thread');
    await bobsThread.getByTestId('message').filter({ hasText: 'Saturday at 10?' }).waitFor();
    await alice.page.getByTestId('thread-viewers').getByRole('img', { name: 'Bob Brooks' }).waitFor({ timeout: 2_000 });
    await bobsThread.getByLabel('Reply').pressSequentially('Happy to show it');
    await alice.page.getByTestId('thread-typing').filter({ hasText: 'Bob Brooks is typing…' }).waitFor({ timeout: 2_000 });
    await screenshot(alice.page, 'inbox');
    // He leaves the field: the indicator goes.
    await bobsThread.getByLabel('Reply').blur();
    await alice.page.getByTestId('thread-typing').filter({ hasText: /^$/ }).waitFor({ timeout: 4_000 });

    // A client calls: both see the banner, with the client's name; alice answers, bob's banner goes and says who took it.
    const clients = await aliceApi.clients.list({ limit: 50 });
    const caller = clients.items.find((client) => client.phone)!;
    await postWebhook(server, secret, '/webhooks/voice', { From: caller.phone!, To: orgNumber, CallSid: sid('CA') });
    const callerName = `${caller.firstName} ${caller.lastName}`;
    for (const page of [alice.page, bob.page]) {
      await page.getByTestId('incoming-call').filter({ hasText: callerName }).waitFor({ timeout: 2_000 });
    }
    await bob.page.getByTestId('incoming-call').evaluate((node) => Promise.all(node.getAnimations().map((animation) => animation.finished)));
    await screenshot(bob.page, 'incoming-call');
    await alice.page
      .getByTestId('call-banner')
      .getByRole('button', { name: `Answer the call from ${callerName}` })
      .click();
    await bob.page.getByTestId('incoming-call').waitFor({ state: 'hidden', timeout: 2_000 });
    await bob.page
      .getByTestId('call-ended')
      .filter({ hasText: `Alice Anders answered the call from ${callerName}` })
      .waitFor({ timeout: 2_000 });
    await alice.page.getByTestId('incoming-call').waitFor({ state: 'hidden', timeout: 2_000 });
    await alice.page
      .getByTestId('call-ended')
      .filter({ hasText: `You answered the call from ${callerName}` })
      .waitFor();
    const calls = await aliceApi.calls.list({ limit: 5 });
    expect(calls.items[0]).toMatchObject({ status: 'answered', answeredById: server.users['alice@acme.test'].id });

    // Still the same page: nothing was reloaded.
    expect(await alice.page.evaluate(() => (window as unknown as { stayedOpen?: boolean }).stayedOpen)).toBe(true);
    for (const session of [alice, bob]) expect(session.errors()).toEqual([]);
  });

  it('lists calls with the missed ones highlighted, and alerts as they are raised', async () => {
    await using server = await startTestServer({ perModule: 3, communications: true, config: { SCHEDULER_INTERVAL_MS: 100 } });
    const alice = await server.caller('alice@acme.test');
    // The seeded call rings out at once; the scheduler marks it missed.
    await expect.poll(async () => (await alice.calls.list({ status: 'missed', limit: 5 })).items.length, { timeout: 5_000 }).toBeGreaterThan(0);

    await using browser = await openBrowser();
    const { page } = browser;
    await signIn(page, server.server.url, 'alice@acme.test');
    await nav(page).getByRole('link', { name: 'Calls' }).click();
    const missed = page.getByTestId('call-row').and(page.locator('[data-status="missed"]'));
    await missed.first().waitFor();
    expect(await missed.first().getByText('Missed').isVisible()).toBe(true);
    await screenshot(page, 'calls');

    await nav(page).getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    await page.getByTestId('alerts').waitFor({ state: 'attached' });
    const listing = (await alice.listings.list({ limit: 5 })).items.find((item) => typeof item.listPriceCents === 'number' && item.listPriceCents > 10_000)!;
    await alice.listings.update({ id: listing.id, expectedVersion: listing.version, patch: { listPriceCents: Math.floor(listing.listPriceCents! * 0.9) } });
    const alert = page.getByTestId('alert').first();
    await alert.filter({ hasText: listing.address }).waitFor({ timeout: 2_000 });
    await screenshot(page, 'alerts');
    await alert.getByRole('link').click();
    await page.getByRole('heading', { name: listing.address }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/listings/${listing.id}`);

    // Texting a client from their page opens the conversation in the inbox.
    const client = await alice.clients.create({ firstName: 'Texty', lastName: 'McTextface', phone: '+1 555 700 0099' });
    await page.goto(`${server.server.url}/clients/${client.id}`);
    await page.getByRole('heading', { name: 'Texty McTextface' }).waitFor();
    await page.getByRole('button', { name: 'Text', exact: true }).click();
    await page.getByLabel('Message to Texty McTextface').fill('Your keys are ready at the office.');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.waitForURL(/\/inbox\/[^/]+$/);
    await page.getByTestId('message').filter({ hasText: 'Your keys are ready at the office.' }).waitFor();
    const conversationId = new URL(page.url()).pathname.split('/').at(-1)!;
    expect((await alice.conversations.byId({ id: conversationId })).clientId).toBe(client.id);

    await nav(page).getByRole('link', { name: 'Dashboard' }).click();
    await expect.poll(() => page.getByTestId('missed-calls').textContent()).not.toBe('–');
    expect(Number(await page.getByTestId('missed-calls').textContent())).toBeGreaterThan(0);
    await screenshot(page, 'dashboard-comms');
    expect(browser.errors()).toEqual([]);

    // docs/WEB.md shows these (the README, inbox.png too): `UPDATE_SCREENSHOTS=1` refreshes them (run the whole file).
    if (!process.env.UPDATE_SCREENSHOTS) return;
    await mkdir('docs/screenshots', { recursive: true });
    for (const name of ['inbox', 'incoming-call']) await copyFile(path.join(SCREENSHOTS, `${name}.png`), `docs/screenshots/${name}.png`);
  });

  it('keeps the inbox and the call banner live by polling while WebSockets are blocked', { timeout: 90_000 }, async () => {
    await using server = await startTestServer({ perModule: 3, communications: true, config: { CALL_RING_TIMEOUT_MS: 30_000 } });
    await using proxy = await startProxy(server.server);
    const settings = await (await server.caller('alice@acme.test')).webhooks.settings();
    const [orgNumber, secret] = [settings.numbers[0]!, settings.secret!];
    await using bob = await openBrowser();
    for (const pattern of [/WebSocket connection to .* failed/, /Failed to load resource/, /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/]) bob.allow(pattern);
    await signIn(bob.page, proxy.url, 'bob@acme.test');
    await nav(bob.page)
      .getByRole('link', { name: /^Inbox/ })
      .click();
    await bob.page.getByTestId('conversation-row').first().waitFor();

    proxy.setMode('no-websocket');
    await expect.poll(() => connectionBadge(bob.page).textContent(), { timeout: 20_000 }).toBe('Live via polling');
    const sms = await postWebhook(server, secret, '/webhooks/sms', { From: '+15557009999', To: orgNumber, Body: 'Anyone there?', MessageSid: `SMpoll${Date.now()}` });
    // The link polls every 2 s.
    const row = bob.page.getByTestId('conversation-row').first();
    await expect.poll(() => row.getAttribute('data-id'), { timeout: 5_000 }).toBe(sms.conversationId);
    await row.click();
    await bob.page.getByTestId('thread').getByTestId('message').filter({ hasText: 'Anyone there?' }).waitFor();
    await postWebhook(server, secret, '/webhooks/sms', { From: '+15557009999', To: orgNumber, Body: 'Hello?', MessageSid: `SMpoll2${Date.now()}` });
    await bob.page.getByTestId('thread').getByTestId('message').filter({ hasText: 'Hello?' }).waitFor({ timeout: 5_000 });
    await postWebhook(server, secret, '/webhooks/voice', { From: '+15557009999', To: orgNumber, CallSid: `CApoll${Date.now()}` });
    await bob.page.getByTestId('incoming-call').filter({ hasText: '+15557009999' }).waitFor({ timeout: 5_000 });
    await bob.page.getByTestId('call-banner').getByRole('button', { name: 'Answer the call from +15557009999' }).click();
    await bob.page.getByTestId('call-ended').filter({ hasText: 'You answered the call from +15557009999' }).waitFor({ timeout: 5_000 });
    expect(bob.errors()).toEqual([]);
  });
});
