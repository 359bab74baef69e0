// Public keys and certificates (issue 18), as a credential manager and a partner's code use
// them, at desktop 1280x900 and phone 390x844: a pasted private key is refused before it is
// sent; a certificate (made by openssl) and a JWK (exported by node's crypto) are added and
// listed with their type, kid and thumbprint; independent client libraries sign assertions
// with the private keys, node's jose and Python's authlib, and get tokens; a deleted key
// stops working.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, importPKCS8 } from 'jose';
import { capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const python = path.join(root, 'target/e2e-python/bin/python');

const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

let stack;
let app;
let dir;
let session;

before(async () => {
  await mkdir(screenshots, { recursive: true });
  dir = await mkdtemp(path.join(os.tmpdir(), 'clavis-keys-'));
  stack = await startStack({ jwksUriHosts: 'keys.acme.test' });
  const applications = await stack.seedDemoWorld();
  app = applications.get('Acme');
  const context = await stack.browser.newContext(DESKTOP);
  const page = await context.newPage();
  await signIn(stack, page, 'manager-mia');
  session = await context.storageState();
  await context.close();
});

after(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A self-signed P-256 certificate from openssl, valid 90 days: [certificate, private key]. */
async function opensslCertificate(name) {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', key, '-out', cert, '-days', '90', '-subj', `/CN=${name}`]);
  return [await readFile(cert, 'utf8'), await readFile(key, 'utf8')];
}

async function openKeys(size) {
  const context = await stack.browser.newContext({ ...size, storageState: session });
  const page = await context.newPage();
  await page.goto(`${stack.clavis}/applications/${app.client_id}`);
  await page.getByRole('heading', { name: 'Public keys and certificates' }).waitFor();
  return page;
}

/** Adds a key through the dialog: name, pasted text, and for a key an expiry. */
async function addKey(page, name, text) {
  await page.getByRole('button', { name: 'Add key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add a public key or certificate' });
  await dialog.waitFor();
  await page.locator('#key-name').fill(name);
  await page.locator('#key-text').fill(text);
  return dialog;
}

async function tokenWithAssertion(assertion) {
  const response = await fetch(`${stack.clavis}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  return { status: response.status, body: await response.json() };
}

/** An assertion as node's jose signs it: five minutes, a new jti, aud the token endpoint. */
async function joseAssertion(privatePem, alg, kid) {
  const key = await importPKCS8(privatePem, alg);
  return new SignJWT({})
    .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
    .setIssuer(app.client_id)
    .setSubject(app.client_id)
    .setAudience(`${stack.clavis}/oauth2/token`)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(key);
}

test('desktop: a private key is refused unsent; a certificate and a JWK are added and listed; jose and authlib get tokens', async () => {
  const page = await openKeys(DESKTOP);
  await page.getByText('This application has no keys yet.').waitFor();
  await page.getByText('0 of 10 active').waitFor();

  // A private key pasted by mistake never leaves the browser.
  const [certificate, certificateKey] = await opensslCertificate('billing-service');
  const sent = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/keys')) sent.push(request.url());
  });
  const dialog = await addKey(page, 'billing service 2027', certificateKey);
  await fitsTheScreen(page, 'add-key dialog');
  await dialog.getByRole('button', { name: 'Add key' }).click();
  await page.getByText(/This is a private key, and it was not stored/).waitFor();
  assert.equal(await page.locator('#key-text').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'key-text', 'focus on the refused field');
  assert.deepEqual(sent, [], 'the private key was not sent');
  await capture(page, 'add-key-private-refused', { fullPage: false });

  // A certificate brings its own expiry: no expiry field.
  await page.locator('#key-text').fill(certificate);
  await page.getByText('A certificate expires at its own end date').waitFor();
  assert.equal(await page.locator('#key-expiry').count(), 0);
  await dialog.getByRole('button', { name: 'Add key' }).click();
  await page.getByRole('status').getByText('The certificate “billing service 2027” was added.').waitFor();
  const row = page.locator('table.stack tr', { hasText: 'billing service 2027' });
  await row.getByText('CN=billing-service').waitFor();
  await row.getByText('EC P-256').waitFor();
  const [listed] = await stack.cli('credential', 'list', '--app', app.client_id);
  assert.equal(listed.kind, 'certificate');
  assert.equal(await row.locator('code[title]').textContent(), `${listed.thumbprint.slice(0, 8)}…`);

  // A JWK with its own kid, exported by node's crypto; its expiry is chosen.
  const ed = generateKeyPairSync('ed25519');
  const jwk = { ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed-2027', use: 'sig' };
  await addKey(page, 'ed key', JSON.stringify(jwk, null, 2));
  assert.equal(await page.locator('#key-expiry').isVisible(), true, 'a JWK needs an expiry');
  await page.locator('#key-expiry').fill('2001-01-01');
  await page.getByRole('button', { name: 'Add key' }).last().click();
  await page.getByText('The expiry must be in the future.').waitFor();
  const inSixMonths = new Date(Date.now() + 180 * 86_400_000).toISOString().slice(0, 10);
  await page.locator('#key-expiry').fill(inSixMonths);
  await page.getByRole('button', { name: 'Add key' }).last().click();
  await page.getByRole('status').getByText('The JWK “ed key” was added.').waitFor();
  await page.getByText('2 of 10 active').waitFor();
  await fitsTheScreen(page, 'application page with keys');
  await capture(page, 'keys');

  // Partners' code: node's jose signs with the certificate's key and the JWK's key.
  const es = await tokenWithAssertion(await joseAssertion(certificateKey, 'ES256'));
  assert.equal(es.status, 200, JSON.stringify(es.body));
  const edPem = ed.privateKey.export({ format: 'pem', type: 'pkcs8' });
  const eddsa = await tokenWithAssertion(await joseAssertion(edPem, 'EdDSA', 'ed-2027'));
  assert.equal(eddsa.status, 200, JSON.stringify(eddsa.body));
  // The same assertion twice is a replay.
  const once = await joseAssertion(certificateKey, 'ES256');
  assert.equal((await tokenWithAssertion(once)).status, 200);
  const replayed = await tokenWithAssertion(once);
  assert.equal(replayed.status, 401);
  assert.equal(replayed.body.error, 'invalid_client');

  // Python's authlib, as a partner's integration would use it.
  const keyFile = path.join(dir, 'billing-service.key');
  const { stdout } = await run(python, [path.join(root, 'e2e/clients/authlib_private_key_jwt.py'),
    `${stack.clavis}/oauth2/token`, app.client_id, keyFile, 'ES256']);
  const token = JSON.parse(stdout);
  assert.equal(token.token_type, 'Bearer');
  assert.ok(token.access_token.split('.').length === 3);

  // Last use shows after the next flush; the row says when.
  await page.reload();
  await page.getByRole('heading', { name: 'Public keys and certificates' }).waitFor();

  // Deleting asks first; then the key stops working.
  await row.getByRole('button', { name: 'Delete the key billing service 2027' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Delete the key “billing service 2027”?' });
  await confirm.waitFor();
  await capture(page, 'delete-key', { fullPage: false });
  await confirm.getByRole('button', { name: 'Delete key' }).click();
  await page.getByRole('status').getByText('The key “billing service 2027” was deleted.').waitFor();
  await page.getByText('1 of 10 active').waitFor();
  assert.equal((await tokenWithAssertion(await joseAssertion(certificateKey, 'ES256'))).status, 401);
  await page.context().close();
});

test('desktop: a credential manager sets a jwks_uri on an allowed host, and is told why others are refused', async () => {
  const page = await openKeys(DESKTOP);
  const field = page.locator('#jwks-uri');
  await page.getByText(/An https URL on keys\.acme\.test/).waitFor();
  await field.fill('http://keys.acme.test/jwks.json');
  await page.getByRole('button', { name: 'Save the jwks_uri' }).click();
  await page.getByText('The jwks_uri must be an https URL.').waitFor();
  assert.equal(await field.getAttribute('aria-invalid'), 'true');
  await field.fill('https://elsewhere.test/jwks.json');
  await page.getByRole('button', { name: 'Save the jwks_uri' }).click();
  await page.getByText(/The host elsewhere\.test is not one a jwks_uri may name here/).waitFor();
  await field.fill('https://keys.acme.test/jwks.json');
  await page.getByRole('button', { name: 'Save the jwks_uri' }).click();
  await page.getByText('The jwks_uri was saved.').waitFor();
  await page.getByText('Keys are also taken from').waitFor();
  await fitsTheScreen(page, 'keys card with a jwks_uri');
  await field.scrollIntoViewIfNeeded();
  await capture(page, 'jwks-uri', { fullPage: false });
  await field.fill('');
  await page.getByRole('button', { name: 'Save the jwks_uri' }).click();
  await page.getByText('The jwks_uri was removed.').waitFor();
  await page.context().close();
});

test('phone: the keys card and the add-key dialog fit the screen', async () => {
  const page = await openKeys(PHONE);
  await page.getByText('ed key').waitFor();
  await fitsTheScreen(page, 'keys on a phone');
  await capture(page, 'keys-phone');
  const [certificate] = await opensslCertificate('phone-cert');
  await addKey(page, 'phone cert', certificate);
  await page.getByText('A certificate expires at its own end date').waitFor();
  await fitsTheScreen(page, 'add-key dialog on a phone');
  const add = await page.getByRole('button', { name: 'Add key' }).last().boundingBox();
  const viewport = page.viewportSize();
  assert.ok(add.x >= 0 && add.x + add.width <= viewport.width, 'Add key is on screen to tap');
  await capture(page, 'add-key-phone', { fullPage: false });
  await page.getByRole('button', { name: 'Add key' }).last().click();
  await page.getByRole('status').getByText('The certificate “phone cert” was added.').waitFor();
  await page.context().close();
});
