import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { beforeAll } from 'vitest';
import { chromiumPath } from '../../scripts/test-machine.mjs';
import type { DemoEmail } from './app.ts';

export const CHROMIUM = chromiumPath();
export const SCREENSHOTS = path.resolve('test-results/screenshots');

/**
 * The browser tests drive Debian's Chromium (no browser download). Without it they fail,
 * in CI and locally, with the command that installs it.
 */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}. Install it with: sudo apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
}

/**
 * Builds the web app into a folder of this test file's own and points the server's static
 * handler at it (TANDEM_WEB_DIR), so test files building in parallel never share output.
 * Rolldown builds it in about a second.
 */
export async function buildWebApp(): Promise<AsyncDisposable & { dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-web-'));
  await promisify(execFile)(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--outDir', dir, '--emptyOutDir', '--logLevel', 'error'], {
    env: { ...process.env, NODE_ENV: 'production' },
  });
  process.env.TANDEM_WEB_DIR = dir;
  return {
    dir,
    async [Symbol.asyncDispose]() {
      delete process.env.TANDEM_WEB_DIR;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Builds the web app once for the test file that calls it (beforeAll), and removes it after its tests. */
export function withBuiltWebApp(): void {
  beforeAll(async () => {
    const web = await buildWebApp();
    return () => web[Symbol.asyncDispose]();
  });
}

export interface BrowserSession extends AsyncDisposable {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors seen so far, minus `allowed`. */
  errors(): string[];
  /** Console errors matching these are expected (e.g. a WebSocket refused on purpose). */
  allow(pattern: RegExp): void;
}

/** A fresh Chromium profile (its own cookies and storage) with one page. */
export async function openBrowser(): Promise<BrowserSession> {
  requireChromium();
  const profile = await mkdtemp(path.join(tmpdir(), 'tandem-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  const allowed: RegExp[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return {
    context,
    page,
    errors: () => errors.filter((text) => !allowed.some((pattern) => pattern.test(text))),
    allow: (pattern) => void allowed.push(pattern),
    async [Symbol.asyncDispose]() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in through the sign-in page and waits until the app is live. */
export async function signIn(page: Page, url: string, email: DemoEmail, { waitLive = true } = {}): Promise<void> {
  await page.goto(`${url}/signin`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('demo1234');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Escrows' }).waitFor();
  if (waitLive)
    await connectionBadge(page)
      .filter({ hasText: /^Live$/ })
      .waitFor();
}

export const connectionBadge = (page: Page) => page.getByTestId('connection');

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}
