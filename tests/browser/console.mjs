// The console in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by
// playwright-core, every page checked with axe-core.
//
// One run signs in as an organization admin, creates an integration token and reads it from the
// one-time page, copies it, uses it against /v1/check, rotates it with a 24-hour grace period,
// revokes it, confirms each state on the list and the details page, and visits the OAuth
// clients, Members, Audit log and Account pages, then signs out. Every page visited is checked
// with axe-core (any `serious` or `critical` violation fails the run, after the whole run, with
// every violation printed) and photographed, full page, as a numbered PNG.
//
// Environment:
//   TESSERA_BASE_URL        the server, e.g. http://127.0.0.1:8080 (required)
//   TESSERA_ADMIN_USERNAME  an organization admin or owner (required)
//   TESSERA_ADMIN_PASSWORD  their password (required)
//   TESSERA_SCREENSHOTS     folder for the PNGs (required; created when missing)
//   TESSERA_ORG_NAME        the organization's name (shown on its pages; picked when the user
//                           belongs to several)
//   TESSERA_TOKEN_SCOPE     the scope the new integration gets (default claims:read)
//   TESSERA_CHROMIUM        the browser (default /usr/bin/chromium; never downloaded)
//
// Exit 0 when everything held; 1 with a message naming the failed step otherwise.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`console.mjs: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

const BASE = required('TESSERA_BASE_URL').replace(/\/+$/, '');
const USERNAME = required('TESSERA_ADMIN_USERNAME');
const PASSWORD = required('TESSERA_ADMIN_PASSWORD');
const SHOTS = required('TESSERA_SCREENSHOTS');
const ORG_NAME = process.env.TESSERA_ORG_NAME || '';
const TOKEN_SCOPE = process.env.TESSERA_TOKEN_SCOPE || 'claims:read';
const CHROMIUM = process.env.TESSERA_CHROMIUM || '/usr/bin/chromium';

/** Impacts that fail the run. */
const BLOCKING = new Set(['serious', 'critical']);
/** Headers every console answer carries (ui-contract.md). */
const CONSOLE_HEADERS = {
  'x-frame-options': (v) => v.toUpperCase() === 'DENY',
  'cache-control': (v) => v.includes('no-store'),
  'referrer-policy': (v) => v === 'no-referrer',
  'x-content-type-options': (v) => v === 'nosniff',
  'content-security-policy': (v) =>
    ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"].every(
      (d) => v.includes(d),
    ) && !v.includes('unsafe-inline'),
};

class StepFailure extends Error {}

function fail(message) {
  throw new StepFailure(message);
}

function expect(condition, message) {
  if (!condition) fail(message);
}

let step = 'start';
let shotNumber = 0;
const shots = [];
const axeFailures = [];
const pageProblems = [];
/** Set while going back to a page made by a POST, which the browser must not show again. */
let cacheMissExpected = false;

function log(message) {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function begin(name) {
  step = name;
  log(`step: ${name}`);
}

/** A full-page PNG named `NN-<name>.png`. */
async function screenshot(page, name) {
  shotNumber += 1;
  const file = path.join(SHOTS, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
  log(`  screenshot ${file}`);
}

/** axe-core on the page as it is; serious and critical violations are kept for the end. */
async function axe(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const counts = {};
  for (const v of results.violations) {
    counts[v.impact] = (counts[v.impact] || 0) + 1;
    const line = `${name} (${page.url()}): [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`;
    const nodes = v.nodes
      .slice(0, 5)
      .map((n) => `      ${n.target.join(' ')}\n        ${(n.failureSummary || '').replace(/\n/g, '\n        ')}`)
      .join('\n');
    if (BLOCKING.has(v.impact)) {
      axeFailures.push(`${line}\n${nodes}`);
      console.log(`  AXE ${line}\n${nodes}`);
    } else {
      console.log(`  axe (not blocking) ${line}`);
    }
  }
  log(`  axe: ${results.passes.length} rules passed, violations ${JSON.stringify(counts)}`);
}

/** The checks every page gets: axe, then a screenshot. */
async function visit(page, name) {
  await page.waitForLoadState('load');
  await axe(page, name);
  await screenshot(page, name);
}

async function heading(page, text) {
  const h1 = page.locator('main h1');
  await h1.first().waitFor();
  const all = await h1.allInnerTexts();
  expect(all.length === 1, `${page.url()}: expected one h1 in <main>, found ${JSON.stringify(all)}`);
  expect(all[0].trim() === text, `${page.url()}: h1 is ${JSON.stringify(all[0])}, expected ${JSON.stringify(text)}`);
}

/** The organization pages' navigation and the organization's name. */
async function orgChrome(page, orgName) {
  const nav = page.getByRole('navigation', { name: 'Console' });
  expect((await nav.count()) === 1, `${page.url()}: no <nav aria-label="Console">`);
  for (const link of ['Integrations', 'OAuth clients', 'Members', 'Audit log', 'Account']) {
    expect(
      (await nav.getByRole('link', { name: link, exact: true }).count()) === 1,
      `${page.url()}: the Console navigation lacks the link ${JSON.stringify(link)}`,
    );
  }
  if (orgName) {
    expect(
      (await page.locator('body').innerText()).includes(orgName),
      `${page.url()}: the organization's name ${JSON.stringify(orgName)} is not shown`,
    );
  }
}

/** Clicks something that loads a new page, and waits until that page has loaded. */
async function follow(page, locator) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await locator.click();
  await navigated;
  await page.waitForLoadState('load');
}

async function nav(page, link) {
  await follow(page, page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: link, exact: true }));
}

/** Fills "Confirm your password" when the page asks for it (re-authentication window). */
async function confirmPasswordIfAsked(page) {
  const field = page.getByLabel('Confirm your password');
  if ((await field.count()) > 0) {
    log('  the page asks for the password again; giving it');
    await field.fill(PASSWORD);
  }
}

/** Waits until the page stops changing documents (after a failed navigation, its error page). */
async function settled(page) {
  for (let i = 0; i < 100; i += 1) {
    try {
      await page.waitForLoadState('load');
      await page.content();
      return;
    } catch (err) {
      if (!/navigating/.test(err.message)) throw err;
      await page.waitForTimeout(100);
    }
  }
  fail(`${page.url()} kept navigating for 10 seconds`);
}

/** Asserts no full token is anywhere in the page's HTML or visible text. */
async function assertNoSecret(page, tokens, where) {
  const html = await page.content();
  const text = await page.locator('body').innerText();
  const values = await page.locator('input, textarea').evaluateAll((els) => els.map((e) => e.value));
  for (const token of tokens) {
    expect(
      !html.includes(token) && !text.includes(token) && !values.some((v) => v.includes(token)),
      `${where}: a full token is on the page (${page.url()})`,
    );
  }
}

/** The one-time page after a POST that made a token: its token, after Copy showed "Copied". */
async function readOneTimeToken(page, name) {
  await heading(page, 'Copy your token now');
  const secret = page.locator('input#secret');
  expect((await secret.count()) === 1, 'the one-time page has no <input id="secret">');
  expect(await secret.evaluate((e) => e.readOnly), '#secret is not readonly');
  const labelled = page.getByLabel('Token', { exact: true });
  expect(
    (await labelled.count()) === 1 && (await labelled.evaluate((e) => e.id)) === 'secret',
    '#secret is not the field labelled "Token"',
  );
  const token = (await secret.inputValue()).trim();
  expect(token.length >= 20, `the token ${JSON.stringify(token.slice(0, 6))}… is implausibly short`);
  expect(
    (await page.locator('main').innerText()).includes('will not be shown again'),
    'the one-time page does not say the token "will not be shown again"',
  );
  expect((await page.getByRole('main').getByRole('link', { name: 'Done', exact: true }).count()) === 1, 'no "Done" link');
  await visit(page, name);

  await page.getByRole('main').getByRole('button', { name: 'Copy', exact: true }).click();
  const status = page.getByRole('status').filter({ hasText: 'Copied' });
  await status.first().waitFor({ timeout: 5000 }).catch(() => fail('clicking "Copy" showed no role="status" "Copied"'));
  expect(
    await status.first().evaluate((e) => e.closest('button') === null),
    'the "Copied" status is inside the button (screen readers miss it)',
  );
  const clipboard = await page.evaluate(() => navigator.clipboard.readText());
  expect(clipboard.trim() === token, 'the clipboard does not hold the token after "Copy"');
  log('  "Copy" put the token on the clipboard and said "Copied"');
  return token;
}

async function check(token) {
  const res = await fetch(`${BASE}/v1/check`, { headers: { Authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

async function expectCheck(token, status, what) {
  const got = await check(token);
  expect(got === status, `/v1/check with ${what} answered ${got}, expected ${status}`);
  log(`  /v1/check with ${what}: ${got}`);
}

/** The list's row for the integration named `name`. */
function row(page, name) {
  return page
    .getByRole('table', { name: 'Integration tokens' })
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name, exact: true }) });
}

/** Its display form: prefix…last4, as listings show a token. */
function last4(token) {
  return token.slice(-4);
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  // Playwright already turns off background networking, sync and component updates (this machine's
  // network is closed); QUIC and the GPU are not wanted either.
  const args = ['--disable-dev-shm-usage', '--disable-gpu', '--disable-quic'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  log(`Chromium ${browser.version()} from ${CHROMIUM}; console at ${BASE}`);
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  context.setDefaultTimeout(30000);
  context.setDefaultNavigationTimeout(60000);
  const page = await context.newPage();

  // Anything the browser refused or the page threw (an inline script or style blocked by the CSP
  // shows up here), and a console answer without the contract's headers.
  page.on('console', (msg) => {
    // A page answered with 4xx (a wrong password) is logged as a failed load: not a problem by
    // itself; failed subresources are caught below.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      pageProblems.push(`${step}: browser console error: ${msg.text()}`);
    }
  });
  page.on('requestfailed', (req) => {
    // Aborted: the page it belonged to was left before it finished (the icon, typically).
    if (req.failure()?.errorText === 'net::ERR_ABORTED') return;
    if (cacheMissExpected && req.failure()?.errorText === 'net::ERR_CACHE_MISS') return;
    pageProblems.push(`${step}: ${req.resourceType()} ${req.url()} failed: ${req.failure()?.errorText}`);
  });
  page.on('pageerror', (err) => pageProblems.push(`${step}: page error: ${err.message}`));
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (res.request().resourceType() !== 'document') {
      if (res.status() >= 400) pageProblems.push(`${step}: ${url.pathname} answered ${res.status()}`);
      return;
    }
    if (!url.pathname.startsWith('/console')) return;
    if (res.status() >= 300 && res.status() < 400) return;
    const headers = res.headers();
    for (const [name, ok] of Object.entries(CONSOLE_HEADERS)) {
      const value = headers[name];
      if (value === undefined || !ok(value)) {
        pageProblems.push(`${step}: ${res.request().method()} ${url.pathname} answered ${name}: ${JSON.stringify(value)}`);
      }
    }
  });

  let oldToken = null;
  let newToken = null;
  // Its own name on every run, so that a second run on the same server finds its own row.
  const integrationName = `Billing sync ${Date.now().toString(36).slice(-5)}`;
  try {
    begin('sign-in page at /');
    const first = await page.goto(`${BASE}/`);
    expect(first && first.ok(), `GET / ended with ${first && first.status()}`);
    expect(new URL(page.url()).pathname === '/console', `GET / led to ${page.url()}, expected /console`);
    await heading(page, 'Sign in to Tessera');
    await visit(page, 'sign-in');

    begin('wrong password');
    await page.getByLabel('Username', { exact: true }).fill(USERNAME);
    await page.getByLabel('Password', { exact: true }).fill(`${PASSWORD}-wrong`);
    await follow(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    await page.getByRole('alert').first().waitFor().catch(() => fail('a wrong password showed no role="alert"'));
    await visit(page, 'sign-in-wrong-password');

    begin('sign in');
    await page.getByLabel('Username', { exact: true }).fill(USERNAME);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await follow(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    if (new URL(page.url()).pathname === '/console') {
      // Several organizations: the list names them.
      await visit(page, 'organizations');
      expect(ORG_NAME, 'signed in, the console lists several organizations; set TESSERA_ORG_NAME');
      await follow(page, page.getByRole('link', { name: ORG_NAME, exact: true }));
    }
    await page.waitForURL(/\/console\/orgs\/[^/]+\/integrations$/).catch(() =>
      fail(`after signing in, the browser is at ${page.url()}, not an organization's integrations`),
    );
    const orgBase = page.url().replace(/\/integrations$/, '');
    log(`  signed in; organization pages under ${orgBase}`);

    begin('integrations list, empty');
    await heading(page, 'Integrations');
    await orgChrome(page, ORG_NAME);
    expect(
      (await page.getByRole('link', { name: 'Create integration', exact: true }).count()) === 1,
      'the list has no "Create integration" link (is the plan missing integrations?)',
    );
    await visit(page, 'integrations');

    begin('create an integration');
    await follow(page, page.getByRole('link', { name: 'Create integration', exact: true }));
    await page.waitForURL(`${orgBase}/integrations/new`);
    await orgChrome(page, ORG_NAME);
    await page.getByLabel('Name', { exact: true }).fill(integrationName);
    await page.getByLabel('Description', { exact: true }).fill('Nightly invoice export to the billing system');
    const env = page.getByRole('radiogroup', { name: 'Environment' });
    const envScope = (await env.count()) === 1 ? env : page.getByRole('group', { name: 'Environment' });
    expect((await envScope.count()) === 1, 'no radio group "Environment"');
    await envScope.getByRole('radio', { name: 'Test', exact: true }).check();
    const scopes = page.getByRole('group', { name: 'Scopes' });
    expect((await scopes.count()) === 1, 'no fieldset "Scopes"');
    await scopes.getByRole('checkbox', { name: TOKEN_SCOPE, exact: true }).check();
    await confirmPasswordIfAsked(page);
    await visit(page, 'integration-new');
    await follow(page, page.getByRole('button', { name: 'Create integration', exact: true }));

    begin('the one-time page after create');
    oldToken = await readOneTimeToken(page, 'integration-created-token-once');
    await expectCheck(oldToken, 200, 'the new token');

    begin('list shows it active, without the token');
    await follow(page, page.getByRole('main').getByRole('link', { name: 'Done', exact: true }));
    // Back from where Done led: the one-time page must not come back (no-store keeps it out of
    // the cache and the back/forward cache).
    // Chromium refuses to resend the form (net::ERR_CACHE_MISS) and shows its own error page.
    cacheMissExpected = true;
    const back = await page.goBack().then(
      (res) => `answered ${res ? res.status() : 'from the back/forward cache'}`,
      (err) => err.message.split('\n')[0],
    );
    await settled(page);
    cacheMissExpected = false;
    log(`  back from Done: ${back}`);
    await assertNoSecret(page, [oldToken], 'going back to the one-time page');
    await screenshot(page, 'back-after-done');
    await page.goto(`${orgBase}/integrations`);
    await heading(page, 'Integrations');
    const created = row(page, integrationName);
    expect((await created.count()) === 1, `the list has no row for ${integrationName}`);
    let rowText = await created.innerText();
    expect(/\bActive\b/.test(rowText), `the row says ${JSON.stringify(rowText)}, not "Active"`);
    expect(rowText.includes(`…${last4(oldToken)}`), `the row does not show the token as prefix…${last4(oldToken)}`);
    await assertNoSecret(page, [oldToken], 'the list');
    await visit(page, 'integrations-active');

    begin('details page');
    await follow(page, created.getByRole('link', { name: integrationName, exact: true }));
    await page.waitForURL(new RegExp(`^${orgBase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/integrations/[^/]+$`));
    const detailsUrl = page.url();
    await heading(page, integrationName);
    await orgChrome(page, ORG_NAME);
    for (const link of ['Rotate', 'Expire', 'Revoke', 'Edit']) {
      expect(
        (await page.getByRole('main').getByRole('link', { name: link, exact: true }).count()) === 1,
        `the details page has no link ${JSON.stringify(link)}`,
      );
    }
    await assertNoSecret(page, [oldToken], 'the details page');
    await visit(page, 'integration-details');

    begin('rotate with a 24-hour grace period');
    await follow(page, page.getByRole('main').getByRole('link', { name: 'Rotate', exact: true }));
    await page.waitForURL(`${detailsUrl}/rotate`);
    await heading(page, `Rotate ${integrationName}`);
    await page.getByLabel('Old token keeps working for', { exact: true }).selectOption({ label: '24 hours' });
    await confirmPasswordIfAsked(page);
    await visit(page, 'integration-rotate');
    const rotatedAt = Date.now();
    await follow(page, page.getByRole('button', { name: 'Rotate token', exact: true }));
    newToken = await readOneTimeToken(page, 'integration-rotated-token-once');
    expect(newToken !== oldToken, 'rotation showed the old token again');
    await expectCheck(newToken, 200, 'the rotated (new) token');
    await expectCheck(oldToken, 200, 'the old token during its grace period');

    begin('the old token is shown expiring');
    await follow(page, page.getByRole('main').getByRole('link', { name: 'Done', exact: true }));
    await page.goto(`${orgBase}/integrations`);
    rowText = await row(page, integrationName).innerText();
    expect(/\bActive\b/.test(rowText), `after rotation the row says ${JSON.stringify(rowText)}, not "Active"`);
    expect(rowText.includes(`…${last4(newToken)}`), `after rotation the row does not show the new token's …${last4(newToken)}`);
    await assertNoSecret(page, [oldToken, newToken], 'the list after rotation');
    await visit(page, 'integrations-after-rotate');
    await page.goto(detailsUrl);
    await heading(page, integrationName);
    const details = await page.getByRole('main').innerText();
    expect(details.includes(`…${last4(newToken)}`), `the details do not show the new token …${last4(newToken)}`);
    expect(details.includes(`…${last4(oldToken)}`), `the details do not show the old token …${last4(oldToken)}`);
    // The old token's entry (the element that names it and no other token) says it is expiring.
    const oldEntry = page
      .getByRole('main')
      .locator('tr, li, dd, p, section, article')
      .filter({ hasText: `…${last4(oldToken)}` })
      .filter({ hasNotText: `…${last4(newToken)}` });
    expect((await oldEntry.count()) > 0, 'the details have no entry for the old token alone');
    // "Expiring <date>", the date 24 hours after the rotation (either side of a minute, should
    // the rotation have straddled midnight).
    const days = [-60e3, 0, 60e3].map((d) => new Date(rotatedAt + 24 * 3600e3 + d).toISOString().slice(0, 10));
    const entries = await oldEntry.allInnerTexts();
    expect(
      entries.some((t) => days.some((day) => t.includes(`Expiring ${day}`))),
      `no entry for the old token says "Expiring ${days[1]} …": ${JSON.stringify(entries)}`,
    );
    await assertNoSecret(page, [oldToken, newToken], 'the details after rotation');
    await visit(page, 'integration-details-grace');

    begin('revoke');
    await follow(page, page.getByRole('main').getByRole('link', { name: 'Revoke', exact: true }));
    await page.waitForURL(`${detailsUrl}/revoke`);
    await heading(page, `Revoke ${integrationName}?`);
    await visit(page, 'integration-revoke');
    await follow(page, page.getByRole('button', { name: 'Revoke integration', exact: true }));
    expect(
      (await page.getByRole('status').count()) > 0,
      `after revoking, ${page.url()} shows no role="status" message`,
    );
    await visit(page, 'integration-revoked');
    await expectCheck(newToken, 401, 'the revoked integration\'s new token');
    await expectCheck(oldToken, 401, 'the revoked integration\'s old token');
    await page.goto(`${orgBase}/integrations`);
    rowText = await row(page, integrationName).innerText();
    expect(/\bRevoked\b/.test(rowText), `after revoking the row says ${JSON.stringify(rowText)}, not "Revoked"`);
    await assertNoSecret(page, [oldToken, newToken], 'the list after revoking');
    await visit(page, 'integrations-revoked');

    begin('Audit log');
    await nav(page, 'Audit log');
    await heading(page, 'Audit log');
    await orgChrome(page, ORG_NAME);
    for (const label of ['Integration', 'Actor', 'Action']) {
      expect((await page.getByLabel(label, { exact: true }).count()) === 1, `the audit log has no filter labelled ${label}`);
    }
    expect((await page.getByRole('button', { name: 'Filter', exact: true }).count()) === 1, 'the audit log has no "Filter" button');
    const audit = await page.getByRole('main').innerText();
    for (const action of ['integration.create', 'integration.rotate', 'integration.revoke']) {
      expect(audit.includes(action), `the audit log does not show ${action}`);
    }
    await assertNoSecret(page, [oldToken, newToken], 'the audit log');
    await visit(page, 'audit-log');

    begin('Audit log filtered by action');
    const actionFilter = page.getByLabel('Action', { exact: true });
    if ((await actionFilter.evaluate((e) => e.tagName)) === 'SELECT') {
      await actionFilter.selectOption('integration.rotate');
    } else {
      await actionFilter.fill('integration.rotate');
    }
    await follow(page, page.getByRole('button', { name: 'Filter', exact: true }));
    const filtered = await page.getByRole('main').locator('table').innerText();
    expect(filtered.includes('integration.rotate'), 'filtering by integration.rotate lost the rotation');
    expect(
      !filtered.includes('integration.create') && !filtered.includes('integration.revoke'),
      'filtering by integration.rotate still lists other actions',
    );
    await visit(page, 'audit-log-filtered');

    begin('Members');
    await nav(page, 'Members');
    await heading(page, 'Members');
    await orgChrome(page, ORG_NAME);
    const members = await page.getByRole('main').innerText();
    expect(members.includes(USERNAME), `the members page does not list ${USERNAME}`);
    expect(/Add member/.test(members) || (await page.getByRole('form', { name: 'Add member' }).count()) === 1, 'no "Add member" form');
    await visit(page, 'members');

    begin('OAuth clients');
    await nav(page, 'OAuth clients');
    await heading(page, 'OAuth clients');
    await orgChrome(page, ORG_NAME);
    expect((await page.getByRole('link', { name: 'Register client', exact: true }).count()) === 1, 'no "Register client" link');
    await visit(page, 'oauth-clients');

    begin('Account');
    await nav(page, 'Account');
    expect(new URL(page.url()).pathname === '/console/account', `the Account link led to ${page.url()}`);
    await heading(page, 'Account');
    for (const label of ['Current password', 'New password']) {
      expect((await page.getByLabel(label, { exact: true }).count()) === 1, `the account page has no field ${label}`);
    }
    await visit(page, 'account');

    begin('sign out');
    const signOut = page.getByRole('main').getByRole('button', { name: 'Sign out', exact: true });
    expect((await signOut.count()) === 1, 'the account page has no "Sign out" button');
    await follow(page, signOut);
    await page.goto(`${orgBase}/integrations`);
    await heading(page, 'Sign in to Tessera');
    await screenshot(page, 'signed-out');
  } catch (err) {
    const where = `step "${step}" at ${page.url()}`;
    try {
      await screenshot(page, `FAILED-${step.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
    } catch {
      // The page may be gone; the message below is what matters.
    }
    await browser.close();
    const message = err instanceof StepFailure ? err.message : err && err.stack ? err.stack : String(err);
    // Never print a token, even in a failure.
    let safe = message;
    for (const t of [oldToken, newToken]) if (t) safe = safe.split(t).join('<token>');
    console.error(`FAILED in ${where}:\n  ${safe}`);
    for (const p of pageProblems) console.error(`  also: ${p}`);
    process.exit(1);
  }
  await browser.close();

  let failed = false;
  if (pageProblems.length) {
    failed = true;
    console.error(`The browser saw ${pageProblems.length} problem(s):`);
    for (const p of pageProblems) console.error(`  ${p}`);
  }
  if (axeFailures.length) {
    failed = true;
    console.error(`axe-core found ${axeFailures.length} serious or critical violation(s):`);
    for (const f of axeFailures) console.error(`  ${f}`);
  }
  log(`${shots.length} screenshots in ${SHOTS}`);
  if (failed) process.exit(1);
  log('console test passed');
}

main().catch((err) => {
  console.error(`FAILED (${step}): ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
