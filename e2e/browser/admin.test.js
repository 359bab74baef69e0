// The admin console at scale, in a real browser at desktop and phone width: 63
// organisations (60 seeded through the CLI) are searched, sorted and paged by the server,
// with the state in the URL so Back works; two grants in a row keep the chosen role and
// organisation (defect 4); and no admin page scrolls sideways. Screenshots of every admin
// page at both widths land in e2e/artifacts/screenshots.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

let stack;
let acme;
let organisations;

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

before(async () => {
  await mkdir(screenshots, { recursive: true });
  stack = await startStack();
  const applications = await stack.seedDemoWorld();
  acme = applications.get('Acme');
  for (let n = 0; n < 60; n += 1) {
    await stack.cli('org', 'create', '--name', `Seeded ${String(n).padStart(2, '0')}`, '--country', n % 2 ? 'FR' : 'DE');
  }
  organisations = await stack.cli('org', 'list');
});

after(async () => {
  await stack?.stop();
});

let problems = [];

async function newPage(viewport) {
  const phone = viewport.width < 600;
  const context = await stack.browser.newContext({ viewport, isMobile: phone, hasTouch: phone });
  await context.exposeBinding('reportPolicyViolation', ({ frame }, violation) => {
    problems.push({ page: frame.url(), ...violation });
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.reportPolicyViolation({ directive: event.effectiveDirective, blocked: event.blockedURI });
    });
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push({ type: 'pageerror', text: String(error) }));
  page.on('console', (message) => {
    const expected = message.text().startsWith('The `integrity` attribute is currently ignored')
      || (/status of 401/.test(message.text()) && /\/api\/v1\/me$/.test(message.location().url ?? ''))
      // The local provider (a development tool) has no favicon.
      || (/ 404 /.test(message.text()) && /\/favicon\.ico$/.test(message.location().url ?? '')
        && !(message.location().url ?? '').startsWith(stack.clavis));
    if (['error', 'warning'].includes(message.type()) && !expected) {
      problems.push({ type: message.type(), text: message.text(), url: message.location().url });
    }
  });
  return page;
}

afterEach(() => {
  const seen = problems;
  problems = [];
  assert.deepEqual(seen, [], 'no console error, page error or policy violation');
});

/** The pager (or, when everything fits on one page, the count alone) shows `text`. */
async function pagerSays(page, text) {
  await page.locator('.pager').getByText(text).waitFor();
}

for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test(`organisations are searched, sorted and paged by the server, and Back works (${label})`, async () => {
    const page = await newPage(viewport);
    await signIn(stack, page, 'admin-ada');
    await page.goto(`${stack.clavis}/admin/organisations`);
    await pagerSays(page, 'Page 1 of 3 · 63 results');
    const pages = page.getByRole('navigation', { name: 'Pages' });
    const previous = pages.getByRole('button', { name: 'Previous' });
    const next = pages.getByRole('button', { name: 'Next' });
    assert.equal(await previous.isDisabled(), true, 'no page before the first');
    assert.equal(await next.isEnabled(), true);
    const firstRow = () => page.locator('tbody tr').first().locator('td').first().innerText();
    assert.match(await firstRow(), /^Acme/);
    assert.equal(await page.locator('tbody tr').count(), 25);

    await next.click();
    await pagerSays(page, 'Page 2 of 3 · 63 results');
    assert.match(page.url(), /[?&]page=2/);
    assert.equal(await previous.isEnabled(), true);
    await next.click();
    await pagerSays(page, 'Page 3 of 3 · 63 results');
    assert.equal(await next.isDisabled(), true, 'no page after the last');
    assert.equal(await page.locator('tbody tr').count(), 13);
    await page.goBack();
    await pagerSays(page, 'Page 2 of 3 · 63 results');

    // A page past the end (an old link, a typed URL) says so and leads back.
    await page.goto(`${stack.clavis}/admin/organisations?page=9`);
    await pagerSays(page, 'There is no page 9: the 63 results fill 3 pages.');
    await page.getByRole('button', { name: 'First page' }).click();
    await pagerSays(page, 'Page 1 of 3 · 63 results');
    await page.goBack();
    await page.goBack();
    await pagerSays(page, 'Page 2 of 3 · 63 results');

    // Sorting by a header: ascending, then descending, announced by aria-sort.
    const nameHeader = page.getByRole('columnheader', { name: /Name/ });
    await nameHeader.getByRole('button').click();
    await page.waitForFunction(() => document.querySelector('th[aria-sort="ascending"]'));
    assert.equal(await nameHeader.getAttribute('aria-sort'), 'ascending');
    await pagerSays(page, 'Page 1 of 3');
    await nameHeader.getByRole('button').click();
    await page.waitForFunction(() => document.querySelector('th[aria-sort="descending"]'));
    assert.match(page.url(), /sort=-name/);
    await page.waitForFunction(() => document.querySelector('tbody tr td')?.innerText.startsWith('Seeded 59'));
    assert.equal(await page.getByRole('columnheader', { name: /Country/ }).getAttribute('aria-sort'), 'none');

    // Search: any letter case, a part of the name; kept in the URL.
    await page.getByLabel('Search by name, country or mailbox').fill('seeded 1');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await pagerSays(page, '10 results');
    assert.equal(await page.getByRole('navigation', { name: 'Pages' }).count(), 0, 'one page: no Previous and Next');
    assert.match(page.url(), /q=seeded%201/);
    assert.match(await firstRow(), /^Seeded 19/, 'still sorted descending');
    await page.getByLabel('Search by name, country or mailbox').fill('no such partner');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText('Nothing matches “no such partner”.').waitFor();
    await page.goBack();
    await pagerSays(page, '10 results');
    assert.equal(await page.getByLabel('Search by name, country or mailbox').inputValue(), 'seeded 1');
    await fitsTheScreen(page, 'organisations, searched');
    await page.context().close();
  });
}

test('two grants in a row keep the chosen role and organisation, and the list updates', async () => {
  const page = await newPage(DESKTOP);
  await signIn(stack, page, 'admin-ada');
  await page.goto(`${stack.clavis}/admin/people`);
  await page.getByRole('heading', { name: 'Grant a role' }).waitFor();
  await page.locator('#grant-role').selectOption('viewer');
  await page.locator('#grant-org').fill('Seeded 07');
  for (const email of ['first.grant@seeded.test', 'second.grant@seeded.test']) {
    await page.locator('#grant-email').fill(email);
    await page.getByRole('button', { name: 'Grant', exact: true }).click();
    await page.getByRole('status').getByText(`${email} is now a viewer of Seeded 07.`).waitFor();
    assert.equal(await page.locator('#grant-role').inputValue(), 'viewer', 'the role stays');
    assert.equal(await page.locator('#grant-org').inputValue(), 'Seeded 07', 'the organisation stays');
    assert.equal(await page.locator('#grant-email').inputValue(), '', 'only the e-mail empties');
  }
  const granted = (await stack.cli('user', 'list')).filter((a) => /grant@seeded\.test$/.test(a.email));
  const seeded07 = organisations.find((o) => o.name === 'Seeded 07');
  assert.deepEqual(granted.map((a) => [a.email, a.role, a.organisation_id]).sort(), [
    ['first.grant@seeded.test', 'viewer', seeded07.id],
    ['second.grant@seeded.test', 'viewer', seeded07.id],
  ]);
  // The people list filters by organisation and role, from the URL.
  await page.goto(`${stack.clavis}/admin/people?organisation=${seeded07.id}&role=viewer`);
  await pagerSays(page, '2 results');
  await page.getByText('Only people with a role at Seeded 07.').waitFor();
  assert.equal(await page.locator('#filter-role').inputValue(), 'viewer');
  const revoke = page.getByRole('button', { name: 'Revoke Viewer of Seeded 07 from first.grant@seeded.test' });
  await revoke.click();
  await page.getByRole('button', { name: 'Confirm: Revoke Viewer of Seeded 07 from first.grant@seeded.test' }).click();
  await pagerSays(page, '1 result');
  await page.context().close();
});

test('every admin page fits the screen at desktop and phone width, and marks where you are', async () => {
  const pages = [
    ['admin-overview', '/admin', 'Admin', 'Expiry reminders'],
    ['admin-organisations', '/admin/organisations', 'Organisations', 'Page 1 of 3'],
    ['admin-organisation', `/admin/organisations/${organisations.find((o) => o.name === 'Acme').id}`, 'Organisations', 'Recent audit events'],
    ['admin-applications', '/admin/applications', 'Applications', /^\d+ results?$/],
    ['admin-apis', '/admin/apis', 'APIs', /^\d+ results?$/],
    ['admin-people', '/admin/people', 'People', /^\d+ results?$/],
  ];
  for (const [label, viewport] of [['', DESKTOP], ['-phone', PHONE]]) {
    const page = await newPage(viewport);
    await signIn(stack, page, 'admin-ada');
    for (const [name, path, current, ready] of pages) {
      await page.goto(`${stack.clavis}${path}`);
      await page.getByText(ready).first().waitFor();
      await page.waitForFunction(() => !document.querySelector('.loading'));
      const marked = page.getByRole('navigation', { name: 'Admin' }).locator('a[aria-current="page"]');
      assert.equal(await marked.innerText(), current === 'Admin' ? 'Overview' : current, `${path} marks its page`);
      assert.equal(await page.getByRole('navigation', { name: 'Main' }).locator('a[aria-current="page"]').innerText(), 'Admin');
      assert.notEqual(await page.title(), 'Clavis', `${path} has its own title`);
      await fitsTheScreen(page, `${path}${label}`);
      await capture(page, `${name}${label}`);
    }
    // A create dialog, and the admin part of the application page.
    await page.goto(`${stack.clavis}/admin/organisations`);
    await page.getByRole('button', { name: 'New organisation' }).click();
    await page.locator('#org-name').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'org-name', 'focus moves into the dialog');
    await fitsTheScreen(page, `new organisation dialog${label}`);
    await capture(page, `admin-new-organisation${label}`, { fullPage: false });
    await page.keyboard.press('Escape');
    await page.locator('#org-name').waitFor({ state: 'detached' });

    await page.goto(`${stack.clavis}/applications/${acme.client_id}`);
    await page.getByRole('heading', { name: 'Admin actions' }).waitFor();
    await page.getByRole('button', { name: `Disable ${acme.name}` }).waitFor();
    await page.getByRole('button', { name: `Token lifetime, device and scopes of ${acme.name}` }).waitFor();
    await fitsTheScreen(page, `application page${label}`);
    await capture(page, `admin-application${label}`);
    await page.context().close();
  }
});

test('an admin disables and enables an application, changes its token lifetime and requires a device, on its page', async () => {
  const page = await newPage(DESKTOP);
  await signIn(stack, page, 'admin-ada');
  await page.goto(`${stack.clavis}/applications/${acme.client_id}`);
  await page.getByRole('button', { name: `Disable ${acme.name}` }).click();
  await page.getByText(/Disabling stops this application getting tokens/).waitFor();
  await page.getByRole('button', { name: `Confirm: Disable ${acme.name}` }).click();
  await page.getByRole('button', { name: `Enable ${acme.name}` }).waitFor();
  await page.getByRole('status').getByText('Disabled the application: it gets no more tokens.').waitFor();
  assert.equal((await stack.cli('app', 'show', acme.client_id)).enabled, false);
  await page.getByRole('button', { name: `Enable ${acme.name}` }).click();
  await page.getByRole('button', { name: `Disable ${acme.name}` }).waitFor();

  await page.getByRole('button', { name: `Token lifetime, device and scopes of ${acme.name}` }).click();
  await page.locator('#lifetime').fill('30');
  await page.getByRole('checkbox', { name: /Requires a device/ }).check();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#lifetime').waitFor({ state: 'detached' });
  await page.getByRole('status').getByText('Saved the token lifetime, device requirement and scopes.').waitFor();
  assert.equal((await stack.cli('app', 'show', acme.client_id)).token_lifetime_secs, 1800);
  assert.equal((await stack.cli('app', 'show', acme.client_id)).requires_device, true);
  assert.equal((await stack.cli('app', 'show', acme.client_id)).enabled, true);
  await page.context().close();
});
