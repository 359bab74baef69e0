// Devices (issue 19), at desktop 1280x900 and phone 390x844: a credential manager finds the
// organisation's devices from the dashboard, adds one (a malformed GUID is refused in the
// dialog), creates its secret (shown once, with its description), registers a certificate
// made by openssl, and disables and enables it; a SanteDB-style token request proves the
// device with the secret the page showed, and stops working while the device is disabled.
// A viewer sees the same pages without a control that changes anything.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { assertNoSourceText, capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

const run = promisify(execFile);
const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

let stack;
let app;
let dir;

before(async () => {
  await mkdir(screenshots, { recursive: true });
  dir = await mkdtemp(path.join(os.tmpdir(), 'clavis-devices-'));
  stack = await startStack();
  app = (await stack.seedDemoWorld()).get('Acme');
});

after(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function open(size, who) {
  const context = await stack.browser.newContext(size);
  const page = await context.newPage();
  await signIn(stack, page, who);
  return { page, context };
}

/** A self-signed P-256 certificate from openssl, valid 90 days, as PEM. */
async function opensslCertificate(name) {
  const cert = path.join(dir, `${name}.crt`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', path.join(dir, `${name}.key`), '-out', cert, '-days', '90', '-subj', `/CN=${name}`]);
  return readFile(cert, 'utf8');
}

/** The SanteDB request: client credentials with `scope=*`, plus the device's header. */
async function santedbToken(clientSecret, deviceId, deviceSecret) {
  const response = await fetch(`${stack.clavis}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-device-authorization': `BASIC ${Buffer.from(`${deviceId}:${deviceSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials', scope: '*', client_id: app.client_id, client_secret: clientSecret,
    }),
  });
  return { status: response.status, body: await response.json() };
}

test('desktop: a manager adds a device, its secret and certificate, and disables it', async () => {
  const { page, context } = await open(DESKTOP, 'manager-mia');
  const acme = page.locator('section.card', { has: page.getByRole('heading', { name: /^Acme/ }) });
  await acme.getByRole('link', { name: 'Devices' }).click();
  await page.getByRole('heading', { name: 'Devices of Acme' }).waitFor();
  await page.getByText('This organisation has no devices yet.').waitFor();

  await page.getByRole('button', { name: 'Add device' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add a device' });
  await dialog.getByLabel('Name', { exact: true }).fill('ward-3-node');
  await dialog.getByLabel(/^Device id/).fill('not-a-guid');
  await dialog.getByRole('button', { name: 'Add device' }).click();
  await dialog.getByRole('alert').getByText(/GUID/).waitFor();
  await fitsTheScreen(page, 'add device refused');
  await capture(page, 'devices-add-refused', { fullPage: false });
  await dialog.getByLabel(/^Device id/).fill('');
  await dialog.getByRole('button', { name: 'Add device' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('status').getByText('Added the device “ward-3-node”. Open it to create its first secret.').waitFor();
  const [device] = await stack.cli('device', 'list', '--org', 'Acme');
  assert.equal(device.name, 'ward-3-node');
  await page.getByText(`0 active secrets · added`).waitFor();
  await assertNoSourceText(page);
  await fitsTheScreen(page, 'devices');
  await capture(page, 'devices');

  await page.getByRole('link', { name: 'ward-3-node' }).click();
  await page.getByRole('heading', { name: /ward-3-node/ }).waitFor();
  await page.locator('#device-id').getByText(device.device_id).waitFor();
  await page.getByText('This device has no secrets yet.').waitFor();
  await page.getByRole('button', { name: 'New secret' }).click();
  await page.getByLabel('Name', { exact: true }).fill('node 2027');
  await page.getByLabel('Description (optional)').fill('ward 3 gateway');
  // A typed date that does not exist is refused where it was typed; typing replaces the
  // date the field starts with.
  await page.getByLabel('On a date (YYYY-MM-DD)').check();
  const typed = page.getByLabel('Expiry date, as YYYY-MM-DD');
  await typed.click();
  await page.keyboard.type('2027-02-30');
  assert.equal(await typed.inputValue(), '2027-02-30');
  await page.getByRole('button', { name: 'Create secret' }).click();
  await page.getByText('That is not a date: write one that exists, as YYYY-MM-DD.').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'expiry-date-value');
  const box = await typed.boundingBox();
  const frame = await page.locator('dialog[open]').boundingBox();
  assert.ok(box.x + box.width <= frame.x + frame.width, 'the date field stays inside the dialog');
  await capture(page, 'device-secret-date-refused', { fullPage: false });
  await page.getByLabel(/^In 90 days/).check();
  await page.getByRole('button', { name: 'Create secret' }).click();
  const value = await page.locator('#secret-value').innerText();
  assert.equal(value.length, 80);
  await page.getByLabel('I have stored the secret somewhere safe').check();
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByText('ward 3 gateway').waitFor();

  // The value the page showed proves the device for an application that requires one.
  await stack.cli('app', 'require-device', '--app', app.client_id, 'true');
  const clientSecret = (await stack.cli('secret', 'create', '--app', app.client_id, '--name', 'santedb', '--expires', '90d')).value;
  const granted = await santedbToken(clientSecret, device.device_id, value);
  assert.equal(granted.status, 200, JSON.stringify(granted.body));

  await page.getByRole('button', { name: 'Add certificate' }).click();
  const add = page.getByRole('dialog', { name: 'Add a certificate' });
  await add.getByLabel('Name', { exact: true }).fill('ward-3 certificate');
  await add.getByLabel('Certificate (PEM)').fill(await opensslCertificate('ward-3-node'));
  await add.getByRole('button', { name: 'Add certificate' }).click();
  await add.waitFor({ state: 'detached' });
  await page.getByRole('status').getByText('Added the certificate “ward-3 certificate”.').waitFor();
  await page.getByText('CN=ward-3-node').waitFor();
  await assertNoSourceText(page);
  await fitsTheScreen(page, 'device');
  await capture(page, 'device');

  await page.getByRole('button', { name: 'Disable device' }).click();
  await page.getByText('The device is disabled: applications that require a device get no tokens on it.').waitFor();
  await page.getByRole('heading', { name: /ward-3-node/ }).getByText('disabled').waitFor();
  const refused = await santedbToken(clientSecret, device.device_id, value);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error, 'invalid_client');
  await page.getByRole('button', { name: 'Enable device' }).click();
  await page.getByText('The device is enabled', { exact: false }).waitFor();
  assert.equal((await santedbToken(clientSecret, device.device_id, value)).status, 200);

  await page.getByRole('button', { name: 'Delete the certificate ward-3 certificate' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Delete the certificate “ward-3 certificate”?' });
  await confirm.getByRole('button', { name: 'Delete certificate' }).click();
  await page.getByRole('status').getByText('The certificate “ward-3 certificate” was deleted.').waitFor();
  await page.getByText('This device has no certificates.').waitFor();
  // One stays, for the viewer to see without a Delete button.
  await stack.cli('device', 'cert-add', '--device', device.device_id, '--name', 'ward-3 spare',
    '--certificate', path.join(dir, 'ward-3-node.crt'));
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'certificates-title', 'focus on the heading');
  await stack.cli('app', 'require-device', '--app', app.client_id, 'false');
  await context.close();
});

test('phone: a viewer sees the devices and their secrets but no control to change them', async () => {
  const { page, context } = await open(PHONE, 'viewer-vic');
  const [device] = await stack.cli('device', 'list', '--org', 'Acme');
  await page.goto(`${stack.clavis}/organisations/${device.organisation_id}/devices`);
  await page.getByRole('link', { name: 'ward-3-node' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Add device' }).count(), 0);
  await fitsTheScreen(page, 'devices on a phone');
  await capture(page, 'devices-phone');
  await page.getByRole('link', { name: 'ward-3-node' }).click();
  await page.getByText('ward 3 gateway').waitFor();
  await page.getByText(/You are a viewer of Acme/).waitFor();
  await page.getByText('ward-3 spare').waitFor();
  for (const name of ['New secret', 'Add certificate', 'Disable device', 'Enable device']) {
    assert.equal(await page.getByRole('button', { name }).count(), 0, name);
  }
  assert.equal(await page.getByRole('button', { name: /^Delete/ }).count(), 0);
  await assertNoSourceText(page);
  await fitsTheScreen(page, 'device on a phone');
  await capture(page, 'device-phone');
  await context.close();
});
