// Headless Chromium (Debian's /usr/bin/chromium) driven through playwright-core,
// for the login tests against a real OpenID provider's pages.
//
//   const browser = await startBrowser();            // one Chromium per test file
//   const page = await browser.newPage();            // a fresh context: its own cookies
//   await page.goto('http://app1.edge.test:8080/private/');
//   await opLogin(page, 'alice');                    // oidc-provider's dev login form + consent
//   await page.waitForURL(/app1\.edge\.test/);
//   await opConfirmLogout(page);                     // "Yes, sign me out" at /session/end
//   const res = await pageRequest(page, url);        // the page's cookies, no redirect followed
//   await browser.close();
//
// Every *.edge.test name resolves to 127.0.0.1 (--host-resolver-rules), so
// several server names can share one cookie domain (.edge.test) on loopback.
// Requests to any other host than 127.0.0.1, localhost or *.edge.test are
// aborted (the OP's pages @import a web font; nothing leaves the machine).
// CHROMIUM=/path/to/chrome overrides the binary.

import fs from 'node:fs';
import http from 'node:http';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP *.edge.test 127.0.0.1',
];

/** Is Chromium installed? (`make deps` installs it.) Tests skip with a reason otherwise. */
export const haveChromium = () => fs.existsSync(CHROMIUM);

const LOCAL = /^(127\.0\.0\.1|localhost|\[::1\]|(.+\.)?edge\.test)$/;

export async function startBrowser({ args = [] } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    timeout: 30_000,
  });
  const contexts = new Set();
  return {
    browser,
    /** A new browser context (its own cookie jar) and one page in it. */
    async newPage() {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      contexts.add(context);
      await context.route('**/*', (route) => {
        const host = new URL(route.request().url()).hostname;
        return LOCAL.test(host) ? route.continue() : route.abort('blockedbyclient');
      });
      context.setDefaultTimeout(15_000);
      context.setDefaultNavigationTimeout(15_000);
      const page = await context.newPage();
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}

/** Is the page showing oidc-provider's development login form? */
export async function onLoginForm(page) {
  return (await page.locator('input[name="login"]').count()) > 0;
}

/**
 * Fills oidc-provider's development login form (any password works) and
 * submits it; then clicks "Continue" on the consent page when one is shown
 * (consent: false leaves the page there). Resolves after the last navigation.
 */
export async function opLogin(page, login, { password = 'any-password', consent = true } = {}) {
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type="submit"]')]);
  if (consent) await opConsent(page);
}

/** Clicks "Continue" on the OP's consent page if the page is showing it (else does nothing). */
export async function opConsent(page) {
  const form = page.locator('form input[name="prompt"][value="consent"]');
  if ((await form.count()) === 0) return false;
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type="submit"]')]);
  return true;
}

/** Clicks "Yes, sign me out" on the OP's RP-initiated logout confirmation, if shown. */
export async function opConfirmLogout(page) {
  const yes = page.locator('button[name="logout"][value="yes"]');
  if ((await yes.count()) === 0) return false;
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), yes.click()]);
  return true;
}

/** The page body as text (the echo backend answers JSON: JSON.parse it). */
export async function bodyText(page) {
  return page.evaluate(() => document.body?.innerText ?? '');
}

/**
 * A request with the page's cookies for `url`, sent from node (no redirect
 * followed: { status, headers, body }). *.edge.test goes to 127.0.0.1 with the
 * name in Host, as the browser's resolver rule does. (Playwright's own
 * APIRequestContext resolves names itself and knows nothing of *.edge.test.)
 */
export async function pageRequest(page, url, { headers = {}, method = 'GET', body } = {}) {
  const u = new URL(url);
  const cookies = await page.context().cookies(url);
  const hdrs = { Host: u.host, ...headers };
  if (cookies.length) hdrs.Cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: LOCAL.test(u.hostname) ? '127.0.0.1' : u.hostname, port: u.port || 80, path: u.pathname + u.search, method, headers: hdrs, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
