// The audit log as people use it (issue 16): paging through three pages with "Newer" and
// "Older" that say so and are enabled only when there is somewhere to go, a sentence per
// event, filters kept in the URL, the date range checked, the CSV download of what is shown,
// "Audit for this application", at desktop and at phone width without sideways scrolling.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { assertNoSourceText, capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

let stack;
let acme;
/** How many secrets the CLI creates and deletes in Acme's application: two events each. */
const ROTATIONS = 30;

before(async () => {
  await mkdir(screenshots, { recursive: true });
  stack = await startStack();
  const applications = await stack.seedDemoWorld();
  acme = applications.get('Acme');
  for (let n = 0; n < ROTATIONS; n += 1) {
    const created = await stack.cli('secret', 'create', '--app', acme.client_id, '--name', `rotation ${n}`,
      '--expires', '90d');
    await stack.cli('secret', 'delete', '--app', acme.client_id, '--id', created.id);
  }
});

after(async () => {
  await stack?.stop();
});

let reported = { violations: [], console: [] };

/** A page at desktop size, or as a phone (390x844, touch, widening like a real phone). */
async function newPage({ phone = false } = {}) {
  const context = await stack.browser.newContext(phone
    ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }
    : { viewport: { width: 1280, height: 900 } });
  await context.exposeBinding('reportPolicyViolation', ({ frame }, violation) => {
    reported.violations.push({ page: frame.url(), ...violation });
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.reportPolicyViolation({ directive: event.effectiveDirective, blocked: event.blockedURI });
    });
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    reported.console.push({ type: message.type(), text: message.text(), url: message.location().url });
  });
  page.on('pageerror', (error) => reported.console.push({ type: 'pageerror', text: String(error) }));
  return page;
}

/**
 * As in portal.test.js: Chromium's "Failed to load resource" for /api/v1/me before sign-in
 * (401), and for the log of an application the person may not see (404, asserted below).
 */
function isExpected(message) {
  return (/^Failed to load resource: the server responded with a status of 401/.test(message.text)
      && /\/api\/v1\//.test(message.url ?? ''))
    || (/^Failed to load resource: the server responded with a status of 404/.test(message.text)
      && /\/api\/v1\/audit-events\?/.test(message.url ?? ''))
    || message.text.startsWith('The `integrity` attribute is currently ignored for preload')
    || (/ 404 /.test(message.text) && /\/favicon\.ico$/.test(message.url ?? '')
      && !(message.url ?? '').startsWith(stack.clavis));
}

afterEach(() => {
  const { violations, console: messages } = reported;
  reported = { violations: [], console: [] };
  assert.deepEqual(violations, [], 'no Content-Security-Policy violation');
  const unexpected = messages.filter((message) => !isExpected(message)
    && ['error', 'warning', 'pageerror'].includes(message.type));
  assert.deepEqual(unexpected, [], 'no console error or warning');
});

/** The pager's state: its text and whether each button can be pressed. */
async function pager(page) {
  const nav = page.getByRole('navigation', { name: 'Pages' });
  const newer = nav.getByRole('button', { name: 'Newer' });
  const older = nav.getByRole('button', { name: 'Older' });
  return {
    text: (await nav.locator('span').innerText()).trim(),
    newerLabel: (await newer.innerText()).trim(),
    olderLabel: (await older.innerText()).trim(),
    newer: await newer.isEnabled(),
    older: await older.isEnabled(),
  };
}

/** Pages through the whole log: 1 → 2 → 3 with Older, back to 2 with Newer. */
async function pageThroughThreePages(page, { phone }) {
  await page.getByText(/^Page 1 of 3 \(\d+ events\)$/).waitFor();
  let state = await pager(page);
  assert.equal(state.newerLabel, 'Newer');
  assert.equal(state.olderLabel, 'Older');
  assert.deepEqual([state.newer, state.older], [false, true], 'page 1: only Older');
  const total = Number(state.text.match(/\((\d+) events\)/)[1]);
  assert.ok(total > 50 && total <= 75, `three pages of 25: ${total}`);
  assert.equal(await page.locator('table.audit tbody tr').count(), 25);
  await assertNoSourceText(page);
  await capture(page, `audit-log-${phone ? 'phone' : 'paging'}`);
  if (phone) {
    // The whole page is too tall to read at once: its first screen and its pager, as seen.
    await capture(page, `audit-log-phone-top`, { fullPage: false });
    await page.getByRole('navigation', { name: 'Pages' }).scrollIntoViewIfNeeded();
    await capture(page, `audit-log-phone-pager`, { fullPage: false });
  }

  await page.getByRole('button', { name: 'Older' }).click();
  await page.getByText(/^Page 2 of 3 /).waitFor();
  assert.match(page.url(), /[?&]page=2\b/);
  state = await pager(page);
  assert.deepEqual([state.newer, state.older], [true, true], 'page 2: both');
  await assertNoSourceText(page);

  await page.getByRole('button', { name: 'Older' }).click();
  await page.getByText(/^Page 3 of 3 /).waitFor();
  state = await pager(page);
  assert.deepEqual([state.newer, state.older], [true, false], 'page 3: only Newer');
  assert.equal(await page.locator('table.audit tbody tr').count(), total - 50);
  // The oldest events are reachable: the application's creation is on the last page.
  await page.getByText(`created the application ${acme.name}`).first().waitFor();
  await assertNoSourceText(page);
  if (phone) await fitsTheScreen(page);

  await page.getByRole('button', { name: 'Newer' }).click();
  await page.getByText(/^Page 2 of 3 /).waitFor();
  // The page is in the URL: a reload shows the same one.
  await page.reload();
  await page.getByText(/^Page 2 of 3 /).waitFor();
}

test('a credential manager pages through the audit log and reads what happened', async () => {
  const page = await newPage();
  await signIn(stack, page, 'manager-mia');
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  assert.equal(await page.title(), 'Audit log · Clavis');

  // One sentence per event, names instead of ids, the details as labelled lines on expand.
  const newest = page.locator('table.audit tbody tr').first();
  await newest.getByText(`deleted the secret “rotation ${ROTATIONS - 1}”`).waitFor();
  assert.match(await newest.innerText(), /\(command line\) deleted the secret “rotation 29” \(.{3}…\) of Partner-NL-Acme-SMC/);
  assert.equal(await newest.getByRole('link', { name: acme.name }).count(), 1);
  assert.match(await newest.locator('td[data-label="Organisation"]').innerText(), /^Acme$/);
  const details = newest.locator('details dl');
  assert.equal(await details.isVisible(), false, 'the details are folded away');
  await newest.locator('details summary').click();
  assert.equal(await newest.locator('details summary').innerText(), 'Details: Secret deleted');
  assert.match(await details.innerText(), /Name\s+rotation 29/);
  assert.match(await details.innerText(), /Starts with\s+.{3}/);
  assert.doesNotMatch(await details.innerText(), /[{}"]/, 'no JSON shown');

  await pageThroughThreePages(page, { phone: false });
});

test('filters live in the URL, a backwards range is refused, the CSV is what is shown', async () => {
  const page = await newPage();
  await signIn(stack, page, 'admin-ada');
  await page.goto(`${stack.clavis}/audit`);
  await page.locator('#f-action').selectOption('secret.create');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText(`Page 1 of 2 (${ROTATIONS} events)`).waitFor();
  assert.match(page.url(), /\/audit\?action=secret\.create$/);
  await assertNoSourceText(page);

  // A link to the filtered log opens it filtered, with the form showing the filters.
  await page.goto(`${stack.clavis}/audit?action=secret.delete&page=2`);
  await page.getByText(`Page 2 of 2 (${ROTATIONS} events)`).waitFor();
  assert.equal(await page.locator('#f-action').inputValue(), 'secret.delete');

  // The CSV link carries the filters; the server streams exactly those events.
  const href = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
  assert.equal(href, '/api/v1/audit-events.csv?action=secret.delete');
  const download = await page.request.get(`${stack.clavis}${href}`);
  assert.equal(download.status(), 200);
  assert.match(download.headers()['content-disposition'], /^attachment; filename="clavis-audit-.*\.csv"$/);
  const lines = (await download.text()).trim().split(/\r?\n/);
  assert.equal(lines.length, ROTATIONS + 1, 'a header and one line per event');

  // From after to: the form says so and asks the server nothing.
  await page.locator('#f-from').fill('2030-01-02');
  await page.locator('#f-to').fill('2030-01-01');
  await page.getByRole('button', { name: 'Filter' }).click();
  const alert = page.locator('#f-to-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /starts on 2030-01-02, after it ends on 2030-01-01/);
  assert.equal(await page.locator('#f-to').getAttribute('aria-invalid'), 'true');
  assert.match(page.url(), /action=secret\.delete&page=2$/, 'nothing applied');
  // The same day as both ends is the whole day: today's events are all there.
  const today = new Date().toISOString().slice(0, 10);
  await page.locator('#f-from').fill(today);
  await page.locator('#f-to').fill(today);
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText(`Page 1 of 2 (${ROTATIONS} events)`).waitFor();
  assert.equal(await alert.isVisible(), false);
  await capture(page, `audit-log-filtered`);
});

test('"Audit for this application" opens the log of that application', async () => {
  const page = await newPage();
  await signIn(stack, page, 'viewer-vic');
  await page.goto(`${stack.clavis}/applications/${acme.client_id}`);
  await page.getByRole('link', { name: 'Audit for this application' }).click();
  await page.getByText('Events of the application').waitFor();
  assert.equal(new URL(page.url()).search, `?application=${acme.client_id}`);
  assert.equal(await page.locator('#f-app').inputValue(), acme.client_id);
  await page.getByText(/^Page 1 of 3 /).waitFor();
  await assertNoSourceText(page);
  await page.getByRole('link', { name: 'Show every application' }).click();
  await page.waitForURL(`${stack.clavis}/audit`);

  // Ben manages Beta only: Acme's application's log is not his, and reads as one that
  // does not exist.
  const ben = await newPage();
  await signIn(stack, ben, 'manager-ben');
  await ben.goto(`${stack.clavis}/audit?application=${acme.client_id}`);
  await ben.getByText(`No application has the client_id "${acme.client_id}".`).waitFor();
  await assertNoSourceText(ben);
});

test('at phone width the audit log pages through three pages and fits the screen', async () => {
  const page = await newPage({ phone: true });
  await signIn(stack, page, 'manager-mia');
  await page.goto(`${stack.clavis}/audit`);
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  await fitsTheScreen(page);
  await pageThroughThreePages(page, { phone: true });
  await fitsTheScreen(page);
});
