// Taking roles away: an admin who revokes their own role is warned first, and the last admin
// role cannot go at all, since nobody could then run the portal.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { assertNoSourceText, capture, screenshots, signIn, startStack } from './stack.js';

let stack;

before(async () => {
  await mkdir(screenshots, { recursive: true });
  stack = await startStack();
  await stack.seedDemoWorld();
});

after(async () => {
  await stack?.stop();
});

test('the only admin is warned about their own role and cannot revoke the last admin role', async () => {
  const context = await stack.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await signIn(stack, page, 'admin-ada');
  await page.goto(`${stack.clavis}/admin/people?q=ada.admin`);
  const revoke = page.getByRole('button', { name: 'Revoke Admin of the whole platform from ada.admin@clavis.test' });
  await revoke.click();
  const warning = page.getByRole('alert').filter({ hasText: 'This is your own role' });
  await warning.waitFor();
  assert.equal(
    (await warning.textContent()).trim(),
    'This is your own role: once it is revoked, you are no longer Admin of the whole platform and lose the admin pages as soon as you leave this one.',
  );
  // Someone else's role warns of nothing.
  await page.goto(`${stack.clavis}/admin/people?q=mia.manager`);
  await page.getByRole('button', { name: /^Revoke Credential manager of Acme from mia/ }).click();
  await page.getByRole('button', { name: /^Confirm: Revoke Credential manager of Acme/ }).waitFor();
  assert.equal(await page.getByText('This is your own role').count(), 0);

  await page.goto(`${stack.clavis}/admin/people?q=ada.admin`);
  await revoke.click();
  await page.getByRole('button', { name: 'Confirm: Revoke Admin of the whole platform from ada.admin@clavis.test' }).click();
  await page.getByText('This is the last admin role: removing it would leave nobody who can manage Clavis. Grant the admin role to someone else first.').waitFor();
  await capture(page, `last-admin-refused`);
  await assertNoSourceText(page);
  const admins = (await stack.cli('user', 'list')).filter((role) => role.role === 'admin');
  assert.equal(admins.length, 1, 'the admin role stays');
  assert.deepEqual(errors, []);
});
