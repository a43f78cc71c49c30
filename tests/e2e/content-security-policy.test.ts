import { describe, expect, it } from 'vitest';
import { MODULE_NAMES } from '../../src/shared/modules.ts';
import { connectionBadge, openBrowser, signIn, withBuiltWebApp } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';

withBuiltWebApp();

declare global {
  interface Window {
    cspViolations?: string[];
  }
}

describe('the Content-Security-Policy', () => {
  it('is sent with the app, and every page works under it: no violation, no console error', async () => {
    await using server = await startTestServer({ perModule: 2, communications: true });
    const alice = await server.caller('alice@acme.test');
    const index = await fetch(`${server.server.url}/escrows`);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('referrer-policy')).toBe('same-origin');

    await using browser = await openBrowser();
    const { page } = browser;
    const cspMessages: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) cspMessages.push(`${message.type()}: ${message.text()}`);
    });
    // Every document of the page records the violations it sees, from its first script on.
    await page.addInitScript(() => {
      window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.cspViolations!.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
      });
    });
    const violations: string[] = [];
    const collectViolations = async () => violations.push(...((await page.evaluate(() => window.cspViolations ?? [])) as string[]));

    await page.goto(`${server.server.url}/`);
    await page.getByRole('heading', { name: 'Demo logins' }).waitFor();
    await collectViolations();
    await signIn(page, server.server.url, 'alice@acme.test');

    const conversation = (await alice.conversations.list({ limit: 1 })).items[0]!;
    const pages: [path: string, ready: () => Promise<void>][] = [
      ['/dashboard', () => page.getByRole('heading', { name: 'Dashboard' }).waitFor()],
      ['/inbox', () => page.getByTestId('conversation-row').first().waitFor()],
      [`/inbox/${conversation.id}`, () => page.getByTestId('thread').getByTestId('message').first().waitFor()],
      ['/calls', () => page.getByRole('heading', { name: 'Calls' }).waitFor()],
      ['/alerts', () => page.getByRole('heading', { name: 'Alerts' }).waitFor()],
    ];
    for (const module of MODULE_NAMES) {
      const record = (await alice[module].list({ limit: 1 })).items[0]!;
      pages.push(
        [`/${module}`, () => page.locator('tbody tr[data-id]').first().waitFor()],
        [`/${module}/new`, () => page.locator('#create-heading').waitFor()],
        [`/${module}/${record.id}`, () => page.locator(`[data-field]`).first().waitFor()],
      );
    }
    for (const [path, ready] of pages) {
      await page.goto(`${server.server.url}${path}`);
      await ready();
      // Live: the WebSocket to the same host is allowed by connect-src 'self'.
      await connectionBadge(page)
        .filter({ hasText: /^Live$/ })
        .waitFor();
      await collectViolations();
    }
    expect(violations).toEqual([]);
    expect(cspMessages).toEqual([]);
    expect(browser.errors()).toEqual([]);
  }, 120_000);
});
