// How an application authenticates (issue 19), at desktop 1280x900 and phone 390x844: a
// credential manager narrows the methods to a client secret and CA-issued certificates and
// registers the certificate subject, after a refusal that says why and keeps focus on the
// field; the settings hold after a reload and are what the command line reads; a viewer sees
// them but cannot change them. The stack serves plain HTTP, so the card says that mutual TLS
// is not set up here.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { assertNoSourceText, capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const TITLE = 'How the application authenticates';

let stack;
let app;

before(async () => {
  await mkdir(screenshots, { recursive: true });
  stack = await startStack();
  app = (await stack.seedDemoWorld()).get('Acme');
});

after(async () => {
  await stack?.stop();
});

async function openApplication(size, who) {
  const context = await stack.browser.newContext(size);
  const page = await context.newPage();
  await signIn(stack, page, who);
  await page.goto(`${stack.clavis}/applications/${app.client_id}`);
  const card = page.locator('section.card', { has: page.getByRole('heading', { name: TITLE }) });
  await card.waitFor();
  return { page, card, context };
}

const method = (card, name) => card.getByRole('checkbox', { name });

test('desktop: a manager chooses the methods and the certificate subject; a bad subject is refused with focus on it', async () => {
  const { page, card, context } = await openApplication(DESKTOP, 'manager-mia');
  await card.getByText('Mutual TLS is not set up on this Clavis').waitFor();
  const every = card.getByRole('checkbox', { name: /Every method it has credentials for/ });
  assert.equal(await every.isChecked(), true, 'by default every method it has credentials for');
  assert.equal(await method(card, /Client secret/).isDisabled(), true);
  assert.equal(await method(card, /Client secret/).isChecked(), false, 'ticks show a choice, not what it has');

  await every.uncheck();
  assert.equal(await method(card, /Client secret/).isChecked(), true, 'choosing starts from every method');
  for (const name of [/Assertion signed/, /Federated credential/, /Registered certificate/]) {
    await method(card, name).uncheck();
  }
  assert.equal(await method(card, /Client secret/).isChecked(), true);
  assert.equal(await method(card, /CA-issued certificate/).isChecked(), true);
  await card.getByLabel('A CA-issued certificate must carry').selectOption({ label: 'Subject DN' });
  const subject = card.getByRole('textbox', { name: 'The subject DN or SAN it must carry' });
  assert.equal(await subject.getAttribute('placeholder'), 'CN=billing,O=Acme,C=GB');
  await subject.fill('billing');
  await card.getByRole('button', { name: 'Save how it authenticates' }).click();
  await card.getByText('"billing" is not a subject DN: write it as CN=billing,O=Acme,C=GB.').waitFor();
  assert.equal(await subject.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'auth-subject', 'focus on the refused field');
  await fitsTheScreen(page, 'client authentication refused');
  await capture(page, 'client-authentication-refused', { fullPage: false });

  await subject.fill('CN=billing-service, O=Acme');
  await card.getByRole('button', { name: 'Save how it authenticates' }).click();
  await card.getByRole('status').getByText('Saved: the next token request follows these settings.').waitFor();
  const shown = await stack.cli('app', 'auth', '--app', app.client_id);
  assert.deepEqual(shown.auth_methods, ['client_secret', 'tls_client_auth']);
  assert.deepEqual(shown.tls_client_auth, { field: 'tls_client_auth_subject_dn', value: 'CN=billing-service, O=Acme' });

  await page.reload();
  await card.waitFor();
  assert.equal(await every.isChecked(), false, 'the choice holds after a reload');
  assert.equal(await method(card, /Assertion signed/).isChecked(), false);
  assert.equal(await subject.inputValue(), 'CN=billing-service, O=Acme');
  await card.scrollIntoViewIfNeeded();
  await assertNoSourceText(page);
  await fitsTheScreen(page, 'client authentication');
  await capture(page, 'client-authentication', { fullPage: false });
  await context.close();
});

test('phone: a viewer sees how the application authenticates but cannot change it', async () => {
  const { page, card, context } = await openApplication(PHONE, 'viewer-vic');
  await card.getByText('Only credential managers can change this.').waitFor();
  await card.getByText('Bind tokens to the client certificate', { exact: false }).waitFor();
  assert.equal(await card.getByRole('checkbox', { name: /Every method it has credentials for/ }).isDisabled(), true);
  assert.equal(await card.getByLabel('A CA-issued certificate must carry').isDisabled(), true);
  assert.equal(await card.getByRole('button', { name: 'Save how it authenticates' }).count(), 0);
  await card.scrollIntoViewIfNeeded();
  await fitsTheScreen(page, 'client authentication on a phone');
  await capture(page, 'client-authentication-phone', { fullPage: false });
  await context.close();
});
