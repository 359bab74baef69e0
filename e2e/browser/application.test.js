// The application page as its people use it (issue 16), at desktop 1280x900 and phone
// 390x844 (a mobile context, so overflow widens the page as on a real phone): the page fits
// the screen with a 70-character organisation in the application's name, secrets are created
// with the keyboard alone in a dialog that holds focus, copy says what really happened, the
// shown-once value can be downloaded and is guarded against leaving, the 10-secret limit is
// explained and its replaced secrets go in one step, viewers learn whom to ask, and
// credential managers see and set who gets their reminders.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

let stack;
let acme;
let longApp;
/** Signed-in browser state per person, so phone contexts need no second sign-in. */
const sessions = {};

// 70 characters without a break opportunity: the hardest case for wrapping.
const LONG_ORG = 'Noordzeekanaalgebiedscheepvaartlogistiekenhavenbeheerholdingmaatschapp';

const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const WIDTHS = [['desktop', DESKTOP, ''], ['phone', PHONE, '-phone']];

let reported = { violations: [], console: [] };

async function newPage(size, { session, refuseClipboard = false, grantClipboard = false } = {}) {
  const context = await stack.browser.newContext({
    ...size,
    ...(session ? { storageState: session } : {}),
    ...(grantClipboard ? { permissions: ['clipboard-read', 'clipboard-write'] } : {}),
  });
  await context.exposeBinding('reportPolicyViolation', ({ frame }, violation) => {
    reported.violations.push({ page: frame.url(), ...violation });
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.reportPolicyViolation({
        directive: event.effectiveDirective,
        blocked: event.blockedURI,
        sample: event.sample,
      });
    });
  });
  if (refuseClipboard) {
    // As a browser that denies clipboard access answers: the promise rejects.
    await context.addInitScript(() => {
      navigator.clipboard.writeText = () => Promise.reject(new DOMException('Write permission denied.', 'NotAllowedError'));
    });
  }
  const page = await context.newPage();
  page.on('console', (message) => {
    reported.console.push({ type: message.type(), text: message.text(), url: message.location().url });
  });
  page.on('pageerror', (error) => reported.console.push({ type: 'pageerror', text: String(error) }));
  return page;
}

/** 401 before signing in, and the 422 a malformed mailbox gets on purpose. */
function isExpected(message) {
  return (/^Failed to load resource: the server responded with a status of 401/.test(message.text)
      && /\/(api\/v1\/|auth\/callback)/.test(message.url ?? ''))
    || (/status of 422/.test(message.text) && /\/reminder-mailbox$/.test(message.url ?? ''))
    || message.text.startsWith('The `integrity` attribute is currently ignored for preload')
    || (/ 404 /.test(message.text) && /\/favicon\.ico$/.test(message.url ?? '')
      && !(message.url ?? '').startsWith(stack.clavis));
}

before(async () => {
  await mkdir(screenshots, { recursive: true });
  stack = await startStack();
  const applications = await stack.seedDemoWorld();
  acme = applications.get('Acme');
  await stack.cli('org', 'create', '--name', LONG_ORG, '--country', 'NL');
  longApp = await stack.cli('app', 'create', '--org', LONG_ORG, '--api', 'SMC');
  await stack.cli('user', 'grant', '--email', 'mia.manager@acme.test', '--role', 'credential_manager', '--org', LONG_ORG);
  for (const sub of ['manager-mia', 'viewer-vic']) {
    const page = await newPage(DESKTOP);
    await signIn(stack, page, sub);
    sessions[sub] = await page.context().storageState();
    await page.context().close();
  }
  reported = { violations: [], console: [] };
});

after(async () => {
  await stack?.stop();
});

afterEach(() => {
  const { violations, console: messages } = reported;
  reported = { violations: [], console: [] };
  assert.deepEqual(violations, [], 'no Content-Security-Policy violation');
  const unexpected = messages.filter((message) => !isExpected(message)
    && ['error', 'warning', 'pageerror'].includes(message.type));
  assert.deepEqual(unexpected, [], 'no console error or warning');
});

/** What has focus: its id, text, accessible label and whether it sits in a dialog. */
const focused = (page) => page.evaluate(() => {
  const element = document.activeElement;
  return {
    id: element?.id ?? '',
    text: (element?.textContent ?? '').trim(),
    label: element?.getAttribute('aria-label') ?? '',
    inDialog: Boolean(element?.closest('dialog[open]')),
  };
});

/** Presses Tab until `matches(focused)` holds; fails after 60 presses. */
async function tabTo(page, matches, what) {
  for (let presses = 0; presses < 60; presses += 1) {
    if (matches(await focused(page))) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached ${what}`);
}

async function secretCount(clientId) {
  return (await stack.cli('secret', 'list', '--app', clientId)).length;
}

for (const [width, size, suffix] of WIDTHS) {
  test(`${width}: a credential manager creates and deletes a secret with the keyboard alone, on a page that fits`, async () => {
    const page = await newPage(size, { session: sessions['manager-mia'] });
    await page.goto(`${stack.clavis}/applications/${longApp.client_id}`);
    await page.getByRole('heading', { name: 'Client secrets' }).waitFor();
    assert.equal(await page.title(), `${longApp.name} · Clavis`, 'the tab is titled by the application');
    assert.ok(longApp.name.includes(LONG_ORG));
    await fitsTheScreen(page, 'application page');
    await page.getByText('0 of 10 unexpired secrets').waitFor();

    // Escape cancels, and focus comes back to the opening button.
    await tabTo(page, (f) => f.text === 'New secret', 'New secret');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'New client secret' }).waitFor();
    assert.equal((await focused(page)).id, 'secret-name', 'focus moves into the dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.activeElement?.textContent.trim() === 'New secret');

    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'New client secret' }).waitFor();
    await fitsTheScreen(page, 'new-secret dialog');
    // An empty name is refused next to the field, which keeps focus.
    await tabTo(page, (f) => f.text === 'Create secret', 'Create secret');
    const create = await page.getByRole('button', { name: 'Create secret' }).boundingBox();
    const viewport = page.viewportSize();
    assert.ok(create.x >= 0 && create.x + create.width <= viewport.width
      && create.y >= 0 && create.y + create.height <= viewport.height, 'Create secret is on screen to tap');
    await page.keyboard.press('Enter');
    const name = page.locator('#secret-name');
    await page.getByText('The secret name must not be empty.').waitFor();
    assert.equal(await name.getAttribute('aria-invalid'), 'true');
    assert.match(await name.getAttribute('aria-describedby'), /secret-name-error/);
    assert.equal((await focused(page)).id, 'secret-name', 'focus moves to the first invalid field');
    assert.equal(await name.getAttribute('maxlength'), '64');
    await page.keyboard.type(`keyboard ${width}`);
    await page.getByText(`${`keyboard ${width}`.length} of 64 characters`).waitFor();
    await page.keyboard.press('Tab');
    assert.equal((await focused(page)).id, 'secret-description');
    await page.keyboard.type('CI deploy of the billing service');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowUp'); // from "In 6 months" to the 90-day preset
    assert.equal((await focused(page)).id, 'expiry-90d');
    assert.match(await page.getByText(/^In 90 days \(\d{4}-\d{2}-\d{2}\)$/).textContent(), /In 90 days/);
    await capture(page, `new-secret-form${suffix}`, { fullPage: false });
    await tabTo(page, (f) => f.text === 'Create secret', 'Create secret');
    await page.keyboard.press('Enter');

    const shown = page.locator('#secret-value');
    await shown.waitFor();
    const value = (await shown.textContent()).trim();
    await fitsTheScreen(page, 'shown-once step');
    // Escape does not dismiss the shown-once step, and focus stays inside the dialog.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    // Chromium lets a second Escape close even a dialog that refused the first; the step then
    // opens again at once (its `close` event is a task of its own, hence the wait for it).
    await shown.waitFor({ state: 'visible', timeout: 2000 });
    assert.equal(await shown.isVisible(), true, 'Escape leaves the value on screen');
    for (let presses = 0; presses < 12; presses += 1) {
      await page.keyboard.press('Tab');
      assert.equal((await focused(page)).inDialog, true, `Tab ${presses + 1} stays in the dialog`);
    }
    // Leaving or reloading asks first while the value is not confirmed as stored.
    const warns = () => page.evaluate(() => {
      const event = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(event);
      return event.defaultPrevented;
    });
    assert.equal(await warns(), true, 'beforeunload warns');
    // The list behind the dialog already holds the new secret (it was stale until Done).
    await page.locator('table.stack strong.long-name', { hasText: `keyboard ${width}` }).waitFor({ state: 'attached' });
    await capture(page, `new-secret${suffix}`, { fullPage: false });
    await tabTo(page, (f) => f.id === 'stored', 'the stored checkbox');
    await page.keyboard.press('Space');
    assert.equal(await warns(), false, 'no warning once stored');
    await tabTo(page, (f) => f.text === 'Done', 'Done');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.getByRole('status').filter({ hasText: `The secret “keyboard ${width}” was created.` }).waitFor();
    await page.waitForFunction(() => document.activeElement?.textContent.trim() === 'New secret');
    assert.ok(value.length > 20);

    const row = page.getByRole('row', { name: new RegExp(`keyboard ${width}`) });
    await row.waitFor();
    await row.getByText('CI deploy of the billing service').waitFor();
    await page.getByText('1 of 10 unexpired secrets').waitFor();
    const secretId = (await stack.cli('secret', 'list', '--app', longApp.client_id))
      .find((secret) => secret.name === `keyboard ${width}`).id;
    await row.getByText(secretId).waitFor();
    await page.getByRole('button', { name: `Copy the id of the secret keyboard ${width}` }).waitFor();
    await fitsTheScreen(page, 'application page with a secret');
    // ISO dates that do not break inside.
    const dates = await row.locator('.nowrap').allTextContents();
    assert.ok(dates.some((text) => /^\d{4}-\d{2}-\d{2}$/.test(text)), dates.join(' | '));
    await capture(page, `application-long${suffix}`);

    // Delete: Escape cancels back to the row's button; confirming lands on the heading.
    const del = page.getByRole('button', { name: `Delete the secret keyboard ${width}` });
    await del.focus();
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('alertdialog', { name: `Delete the secret “keyboard ${width}”?` });
    await confirm.waitFor();
    assert.equal((await focused(page)).text, 'Cancel');
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    await page.waitForFunction((label) => document.activeElement?.getAttribute('aria-label') === label,
      `Delete the secret keyboard ${width}`);
    await page.keyboard.press('Enter');
    await confirm.waitFor();
    await tabTo(page, (f) => f.text === 'Delete secret', 'Delete secret');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: `The secret “keyboard ${width}” was deleted.` }).waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'secrets-title');
    await page.getByText('This application has no secrets yet.').waitFor();
    assert.equal(await secretCount(longApp.client_id), 0);
    await page.context().close();
  });
}

test('a refused clipboard is reported and the value selected; the value downloads as a file', async () => {
  for (const [width, size, suffix] of WIDTHS) {
    const page = await newPage(size, { session: sessions['manager-mia'], refuseClipboard: true });
    await page.goto(`${stack.clavis}/applications/${longApp.client_id}`);
    await page.getByRole('button', { name: 'New secret' }).click();
    await page.getByLabel('Name', { exact: true }).fill(`refused ${width}`);
    await page.getByRole('button', { name: 'Create secret' }).click();
    const shown = page.locator('#secret-value');
    await shown.waitFor();
    const value = (await shown.textContent()).trim();
    const copy = page.getByRole('button', { name: 'Copy the secret value' });
    await copy.click();
    await page.getByText('Copy failed: select the value and copy it yourself.').waitFor();
    assert.equal((await copy.textContent()).trim(), 'Copy failed', 'the button does not claim success');
    assert.equal(await page.evaluate(() => window.getSelection().toString().trim()), value,
      'the value is selected for copying by hand');
    await capture(page, `copy-refused${suffix}`, { fullPage: false });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download as file' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^Partner-NL-.+-refused-.+\.txt$/);
    assert.equal((await readFile(await download.path(), 'utf8')).trim(), value);
    await page.getByLabel('I have stored the secret somewhere safe').check();
    await page.getByRole('button', { name: 'Done' }).click();
    await page.context().close();
  }

  // Where the browser allows it, "Copied" means the clipboard really holds the value.
  const page = await newPage(DESKTOP, { session: sessions['manager-mia'], grantClipboard: true });
  await page.goto(`${stack.clavis}/applications/${longApp.client_id}`);
  const copy = page.getByRole('button', { name: 'Copy the client_id' });
  await copy.click();
  await page.getByText('Copied to the clipboard.').waitFor();
  assert.equal((await copy.textContent()).trim(), 'Copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), longApp.client_id);
  await page.context().close();
});

test('at the 10-secret limit New secret is disabled with the reason, and replaced secrets go after confirmation', async () => {
  // Each later secret outlives the earlier ones, so all but the last are Replaced.
  for (let n = 1; n <= 10; n += 1) {
    await stack.cli('secret', 'create', '--app', acme.client_id, '--name', `limit ${n}`, '--expires', `${n * 10}d`);
  }
  // The phone only looks; the desktop then deletes.
  for (const [, size, suffix] of [...WIDTHS].reverse()) {
    const page = await newPage(size, { session: sessions['manager-mia'] });
    await page.goto(`${stack.clavis}/applications/${acme.client_id}`);
    await page.getByText('10 of 10 unexpired secrets').waitFor();
    const button = page.getByRole('button', { name: 'New secret' });
    assert.equal(await button.isDisabled(), true);
    assert.equal(await button.getAttribute('aria-describedby'), 'limit-reason');
    await page.getByText(/New secret is unavailable: this application has 10 unexpired secrets/).waitFor();
    await page.getByText(/9 marked Replaced can go/).waitFor();
    await fitsTheScreen(page, 'application page at the limit');
    await capture(page, `application-limit${suffix}`);
    if (suffix) {
      await page.context().close();
      continue;
    }
    await page.getByRole('button', { name: 'Delete replaced secrets (9)' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Delete 9 replaced secrets?' });
    await confirm.getByText('limit 1', { exact: true }).waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await secretCount(acme.client_id), 10, 'cancelling deletes nothing');
    await page.getByRole('button', { name: 'Delete replaced secrets (9)' }).click();
    await confirm.getByRole('button', { name: 'Delete replaced secrets' }).click();
    await page.getByRole('status').filter({ hasText: '9 replaced secrets were deleted.' }).waitFor();
    await page.getByText('1 of 10 unexpired secrets').waitFor();
    assert.equal(await button.isEnabled(), true);
    assert.deepEqual((await stack.cli('secret', 'list', '--app', acme.client_id)).map((s) => s.name), ['limit 10']);
    await page.context().close();
  }
});

test('a viewer sees why they cannot change secrets and whom to ask', async () => {
  for (const [, size, suffix] of WIDTHS) {
    const page = await newPage(size, { session: sessions['viewer-vic'] });
    await page.goto(`${stack.clavis}/applications/${acme.client_id}`);
    await page.getByText(/You are a viewer of Acme: you can see these secrets, but only its credential managers can create or delete them\./).waitFor();
    await page.getByRole('link', { name: 'mia.manager@acme.test' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'New secret' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Delete/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Save the reminder mailbox' }).count(), 0);
    await page.getByRole('heading', { name: 'Expiry reminders' }).waitFor();
    await fitsTheScreen(page, 'viewer application page');
    await page.goto(`${stack.clavis}/`);
    await page.getByRole('heading', { name: 'Your applications' }).waitFor();
    await page.getByRole('link', { name: acme.name }).first().waitFor();
    await fitsTheScreen(page, 'viewer dashboard');
    await page.goto(`${stack.clavis}/applications/${acme.client_id}`);
    await page.getByRole('link', { name: 'mia.manager@acme.test' }).waitFor();
    await capture(page, `application-viewer${suffix}`);
    await page.context().close();
  }
});

test('a credential manager sees who gets reminders and sets the reminder mailbox', async () => {
  for (const [width, size, suffix] of WIDTHS) {
    const page = await newPage(size, { session: sessions['manager-mia'] });
    await page.goto(`${stack.clavis}/`);
    await page.getByRole('link', { name: longApp.name }).waitFor();
    await fitsTheScreen(page, 'dashboard with a long name');
    await capture(page, `dashboard-long${suffix}`);
    await page.getByRole('link', { name: longApp.name }).click();
    const reminders = page.getByRole('region', { name: 'Expiry reminders' });
    await reminders.getByText('mia.manager@acme.test').waitFor();
    // This stack has no mail server: nobody is promised reminders that never come.
    await reminders.getByText(/^Expiry reminders are off on this Clavis/).waitFor();
    assert.equal(await reminders.getByText(/Reminders go out/).count(), 0);
    const mailbox = page.locator('#mailbox');
    await mailbox.fill('nope');
    await page.getByRole('button', { name: 'Save the reminder mailbox' }).click();
    await reminders.locator('#mailbox-error').waitFor();
    assert.equal(await mailbox.getAttribute('aria-invalid'), 'true');
    assert.match(await mailbox.getAttribute('aria-describedby'), /mailbox-error/);
    assert.equal((await focused(page)).id, 'mailbox');
    await mailbox.fill(`team-${width}@long.test`);
    await page.getByRole('button', { name: 'Save the reminder mailbox' }).click();
    await reminders.getByText(`team-${width}@long.test`, { exact: true }).waitFor();
    await reminders.getByText('(reminder mailbox)').waitFor();
    await fitsTheScreen(page, 'reminders card');
    await capture(page, `application-reminders${suffix}`);
    await page.context().close();
  }
  const org = (await stack.cli('org', 'list')).find((o) => o.name === LONG_ORG);
  assert.equal(org.notification_email, 'team-phone@long.test');
});
