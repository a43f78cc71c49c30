import { describe, expect, it } from 'vitest';
import { openBrowser, screenshot, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startProxy } from '../helpers/proxy.ts';
import { startTestServer } from '../helpers/server.ts';
import { startTwilioStandIn } from '../helpers/twilio-standin.ts';

withBuiltWebApp();

const ACCOUNT = `AC${'4d'.repeat(16)}`;
const TOKEN = 'aaaabbbbccccddddeeeeffff00001111';
const ONE_PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

describe('carriers in the web app', () => {
  it('an admin connects Twilio; a reply Twilio refuses shows why, Retry sends it once it can go, a photo from the contact shows, and files the agent attaches go out', async () => {
    await using standIn = Object.assign(await startTwilioStandIn({ accounts: { [ACCOUNT]: TOKEN }, callbackDelayMs: 10 }), {
      async [Symbol.asyncDispose]() {
        await standIn.close();
      },
    });
    await using publicProxy = await startProxy({ port: 1 });
    await using server = await startTestServer({
      perModule: 2,
      communications: true,
      config: { PUBLIC_URL: publicProxy.url, TWILIO_API_URL: standIn.url, OUTBOX_POLL_MS: 100, CARRIER_SEND_TIMEOUT_MS: 1_000, CARRIER_RECONCILE_MS: 3_000 },
    });
    publicProxy.retarget({ port: Number(new URL(server.server.url).port) });

    await using alice = await openBrowser();
    await signIn(alice.page, server.server.url, 'alice@acme.test');
    await alice.page.goto(`${server.server.url}/team`);
    const form = alice.page.getByRole('form', { name: 'Connect a Twilio account' });
    await form.getByLabel('Account SID').fill(ACCOUNT);
    await form.getByLabel('Auth Token').fill(TOKEN);
    await form.getByRole('button', { name: 'Connect Twilio' }).click();
    const listed = alice.page.getByTestId('carriers').getByRole('listitem').filter({ hasText: 'Twilio' });
    await listed.waitFor();
    // What to paste into Twilio's console; the token itself is gone from the page.
    expect(await listed.textContent()).toContain(`${publicProxy.url}/webhooks/twilio/sms`);
    expect(await alice.page.content()).not.toContain(TOKEN);
    // The number Twilio gave the org.
    const numbers = alice.page.getByRole('form', { name: "The org's numbers" });
    await numbers.getByLabel('Add a number').fill('+1 555 010 7777');
    await numbers.getByRole('button', { name: 'Add' }).click();
    await alice.page.getByTestId('numbers').getByText('+15550107777').waitFor();

    // A reply Twilio refuses: the agent sees it failed, and why.
    const conversation = (await (await server.caller('alice@acme.test')).conversations.list()).items.find((item) => item.channel === 'sms')!;
    standIn.failNext(1, { kind: 'status', status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
    await alice.page.goto(`${server.server.url}/inbox/${conversation.id}`);
    const thread = alice.page.getByTestId('thread');
    await thread.getByLabel('Reply').fill('Your keys are ready');
    await thread.getByLabel('Reply').press('Enter');
    const bubble = thread.getByTestId('message').filter({ hasText: 'Your keys are ready' });
    await bubble.getByTestId('ticks').filter({ hasText: 'Twilio 21610: Attempt to send to unsubscribed recipient' }).waitFor({ timeout: 5_000 });
    expect(await bubble.getAttribute('data-status')).toBe('failed');
    await screenshot(alice.page, 'carrier-failed');

    // Retry: queued again, taken by Twilio, delivered; one copy at Twilio.
    await bubble.getByRole('button', { name: 'Retry' }).click();
    await thread.locator('[data-status="delivered"]').filter({ hasText: 'Your keys are ready' }).waitFor({ timeout: 5_000 });
    expect(standIn.messages.filter((message) => message.body === 'Your keys are ready')).toHaveLength(1);

    // The contact answers with a photo: it arrives live and shows, fetched through the server with the page's token.
    const orgNumber = (await (await server.caller('alice@acme.test')).webhooks.settings()).numbers[0]!;
    const photo = await standIn.postSigned(ACCOUNT, `${publicProxy.url}/webhooks/twilio/sms`, {
      AccountSid: ACCOUNT,
      MessageSid: `SM${Date.now()}photo`,
      From: conversation.contactPhone!,
      To: orgNumber,
      Body: 'Here is the signed form',
      NumMedia: '1',
      MediaUrl0: standIn.addMedia(ACCOUNT, 'image/png', ONE_PIXEL_PNG),
      MediaContentType0: 'image/png',
    });
    expect(photo.status).toBe(200);
    const image = thread.getByTestId('message').filter({ hasText: 'Here is the signed form' }).getByRole('img');
    await image.waitFor({ timeout: 5_000 });
    await expect.poll(() => image.evaluate((node) => (node as HTMLImageElement).naturalWidth), { timeout: 5_000 }).toBe(1);

    // The agent answers with a photo and a PDF: picked, uploaded, sent; Twilio fetches both from their public links.
    const pdf = Buffer.from('%PDF-1.4\n% the lease\n');
    await thread.getByLabel('Attach files').setInputFiles([
      { name: 'keys.png', mimeType: 'image/png', buffer: ONE_PIXEL_PNG },
      { name: 'Lease.pdf', mimeType: 'application/pdf', buffer: pdf },
    ]);
    const files = thread.getByRole('list', { name: 'Files to send' });
    await files.getByText('keys.png').waitFor({ timeout: 5_000 });
    await files.getByText('Lease.pdf').waitFor({ timeout: 5_000 });
    await thread.getByLabel('Reply').fill('The keys and the lease');
    await thread.getByRole('button', { name: 'Send' }).click();
    const sentBubble = thread.getByTestId('message').filter({ hasText: 'The keys and the lease' });
    await sentBubble.getByRole('img', { name: 'keys.png' }).waitFor({ timeout: 5_000 });
    await sentBubble.getByRole('button', { name: 'Lease.pdf' }).waitFor();
    await thread.locator('[data-status="delivered"]').filter({ hasText: 'The keys and the lease' }).waitFor({ timeout: 5_000 });
    const atTwilio = standIn.messages.filter((message) => message.body === 'The keys and the lease');
    expect(atTwilio).toHaveLength(1);
    const fetched = await Promise.all(atTwilio[0]!.mediaUrls.map(async (url) => Buffer.from(await (await fetch(url)).arrayBuffer())));
    expect(fetched).toEqual([ONE_PIXEL_PNG, pdf]);
    expect(await files.count()).toBe(0);
    await screenshot(alice.page, 'carrier-attachments');
    expect(alice.errors()).toEqual([]);
  });
});
