import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (scripts/setup-debian.sh installs it in the test set). */
const chromiumPath = process.env['KILN_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
/** Where the tests save screenshots of the pages (git-ignored). */
export const screenshotDir = 'test-results/screenshots';

/** Launches a headless Chromium for one test file. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root (containers, CI) cannot use Chromium's user-namespace sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** Logs in through the login form; the page is then on the dashboard. */
export async function logInPage(
  page: Page,
  url: string,
  username: string,
  password = `${username}-password-123`,
): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${url}/`);
}

/** Saves a full-page screenshot as `<dir>/<name>.png`. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: `${screenshotDir}/${name}.png`, fullPage: true });
}
