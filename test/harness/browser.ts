/**
 * Debian's Chromium driven by playwright-core: nothing is downloaded, the browser is the system's
 * (/usr/bin/chromium, installed by scripts/bootstrap.sh), headless, sandboxed off (root in CI),
 * with a fresh profile that is removed on close.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.SWERL_CHROMIUM || '/usr/bin/chromium';
/** Screenshots of browser tests: gitignored (.gitignore: test-artifacts/). */
export const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  screenshot(name: string): Promise<string>;
  /** Errors the page threw or logged: a test asserts there were none. */
  pageErrors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(artifactDir: string): Promise<TestBrowser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'swerl-chromium-'));
  const dir = path.join(ARTIFACTS, artifactDir);
  // This run's screenshots only: a stale one from an earlier run must not pass for this one's.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // The profile directory is the persistent context's (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1400, height: 1000 },
    headless: true,
    timeout: 120_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(120_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return {
    context,
    page,
    pageErrors,
    async screenshot(name) {
      const file = path.join(dir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
