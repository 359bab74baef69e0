// Federated workload identity (issue 18), in a real browser at desktop 1280x900 and phone
// 390x844. A small OpenID Connect issuer on HTTPS (its certificate made by openssl, trusted
// through CLAVIS_OUTBOUND_CA_FILE) plays a Kubernetes cluster: it serves its discovery
// document and key set, and node's jose signs its service account tokens. An admin trusts it
// (after refusals that say why), a credential manager adds a federated credential (after a
// wildcard is refused unsent), the workload gets tokens with the same token again and again,
// and a deleted credential stops working.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

const run = promisify(execFile);

const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const WORKLOAD = 'system:serviceaccount:billing:exporter';

let stack;
let app;
let dir;
let platform;
const sessions = {};

/** A self-signed certificate for 127.0.0.1 that is no CA (rustls refuses a CA as a server). */
async function serverCertificate() {
  const config = path.join(dir, 'openssl.cnf');
  await writeFile(config, [
    '[req]', 'distinguished_name = dn', 'x509_extensions = leaf', 'prompt = no',
    '[dn]', 'CN = 127.0.0.1',
    '[leaf]', 'subjectAltName = IP:127.0.0.1', 'basicConstraints = critical, CA:FALSE',
  ].join('\n'));
  const [key, cert] = [path.join(dir, 'issuer.key'), path.join(dir, 'issuer.crt')];
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-config', config]);
  return { key: await readFile(key), cert: await readFile(cert), certFile: cert };
}

/** The workload platform: discovery and keys on HTTPS, and a signer of its tokens. */
async function startPlatform(tls) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'cluster-1', use: 'sig', alg: 'ES256' };
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
    const documents = {
      '/.well-known/openid-configuration': { issuer: base, jwks_uri: `${base}/openid/v1/jwks` },
      '/openid/v1/jwks': { keys: [jwk] },
    };
    const document = documents[request.url];
    response.writeHead(document ? 200 : 404, { 'content-type': 'application/json' });
    response.end(JSON.stringify(document ?? {}));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://127.0.0.1:${server.address().port}`;
  const token = (audience, minutes = 10) => new SignJWT({
    'kubernetes.io': { namespace: 'billing', serviceaccount: { name: 'exporter' } },
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'cluster-1' })
    .setIssuer(base)
    .setSubject(WORKLOAD)
    .setAudience([audience])
    .setIssuedAt()
    .setExpirationTime(`${minutes}m`)
    .sign(privateKey);
  return { base, token, close: () => server.close() };
}

before(async () => {
  await mkdir(screenshots, { recursive: true });
  dir = await mkdtemp(path.join(os.tmpdir(), 'clavis-federated-'));
  const tls = await serverCertificate();
  platform = await startPlatform(tls);
  stack = await startStack({ outboundCaFile: tls.certFile });
  const applications = await stack.seedDemoWorld();
  app = applications.get('Acme');
  for (const sub of ['admin-ada', 'manager-mia']) {
    const context = await stack.browser.newContext(DESKTOP);
    const page = await context.newPage();
    await signIn(stack, page, sub);
    sessions[sub] = await context.storageState();
    await context.close();
  }
});

after(async () => {
  await stack?.stop();
  platform?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function open(sub, size, where) {
  const context = await stack.browser.newContext({ ...size, storageState: sessions[sub] });
  const page = await context.newPage();
  await page.goto(`${stack.clavis}${where}`);
  return page;
}

async function tokenWith(assertion, clientId = app.client_id) {
  const response = await fetch(`${stack.clavis}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  return { status: response.status, body: await response.json() };
}

/** Fills the trust dialog (opening it unless a refusal kept it open) and submits it. */
async function trust(page, url, name) {
  if (!(await page.getByRole('dialog', { name: 'Trust an issuer' }).isVisible())) {
    await page.getByRole('button', { name: 'Trust an issuer' }).click();
  }
  await page.locator('#issuer-url').fill(url);
  await page.locator('#issuer-name').fill(name);
  await page.getByRole('button', { name: 'Trust issuer' }).click();
}

test('desktop: an admin trusts the platform only once its discovery works, and is told why not', async () => {
  const page = await open('admin-ada', DESKTOP, '/admin/issuers');
  await page.getByRole('heading', { name: 'Trusted issuers' }).waitFor();
  await page.getByText('No issuer is trusted yet.').waitFor();
  assert.equal(await page.getByRole('link', { name: 'Issuers' }).getAttribute('aria-current'), 'page');

  await trust(page, 'http://127.0.0.1/cluster', 'Plain');
  await page.getByText(/The issuer must be an https URL/).waitFor();
  await trust(page, `${platform.base}/elsewhere`, 'Nowhere');
  await page.getByText(/Clavis cannot use this issuer's discovery: .*404/).waitFor();
  await fitsTheScreen(page, 'trust dialog with an error');
  await capture(page, 'issuer-refused', { fullPage: false });

  await trust(page, platform.base, 'Cluster 1');
  await page.getByRole('status').getByText(`${platform.base} is trusted.`).waitFor();
  const row = page.locator('table.stack tr', { hasText: 'Cluster 1' });
  await row.getByText(platform.base).waitFor();
  await row.getByRole('button', { name: 'Stop trusting Cluster 1' }).waitFor();
  await fitsTheScreen(page, 'trusted issuers');
  await capture(page, 'issuers');
  const [listed] = await stack.cli('issuer', 'list');
  assert.equal(listed.issuer, platform.base);
  await page.context().close();
});

test('desktop: a manager adds a federated credential; the workload gets tokens with its own token; deleting stops it', async () => {
  const page = await open('manager-mia', DESKTOP, `/applications/${app.client_id}`);
  await page.getByRole('heading', { name: 'Federated credentials' }).waitFor();
  await page.getByText('This application has no federated credentials.').waitFor();
  await page.getByRole('button', { name: 'Add federated credential' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add a federated credential' });
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'federated-name');

  // A wildcard subject is refused before anything is sent.
  const sent = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/federated')) sent.push(request.url());
  });
  await page.locator('#federated-name').fill('exporter on cluster 1');
  await page.locator('#federated-issuer').selectOption(platform.base);
  await page.locator('#federated-subject').fill('system:serviceaccount:billing:*');
  await dialog.getByRole('button', { name: 'Add federated credential' }).click();
  await page.getByText(/wildcards \(\*\) are not allowed/).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'federated-subject');
  assert.equal(await page.locator('#federated-subject').getAttribute('aria-invalid'), 'true');
  assert.deepEqual(sent, []);
  await fitsTheScreen(page, 'add-federated dialog');
  await capture(page, 'add-federated-refused', { fullPage: false });

  await page.locator('#federated-subject').fill(WORKLOAD);
  await dialog.getByRole('button', { name: 'Add federated credential' }).click();
  await page.getByRole('status').getByText('The federated credential “exporter on cluster 1” was added.').waitFor();
  const row = page.locator('table.stack tr', { hasText: 'exporter on cluster 1' });
  await row.getByText(WORKLOAD).waitFor();
  await row.locator('td[data-label="Issuer"]', { hasText: 'Cluster 1' }).waitFor();
  const [listed] = await stack.cli('federated', 'list', '--app', app.client_id);
  assert.equal(listed.audience, stack.clavis, "the default audience is Clavis's issuer");
  await fitsTheScreen(page, 'application page with a federated credential');
  await capture(page, 'federated');

  // The workload presents the same service account token again and again.
  const token = await platform.token(stack.clavis);
  for (let n = 0; n < 3; n += 1) {
    const answer = await tokenWith(token);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(answer.body.expires_in <= 600, 'never outlives the service account token');
  }
  const elsewhere = await tokenWith(await platform.token('https://another.example'));
  assert.equal(elsewhere.status, 401);
  assert.equal(elsewhere.body.error, 'invalid_client');

  // An admin cannot untrust an issuer in use.
  const admin = await open('admin-ada', DESKTOP, '/admin/issuers');
  await admin.locator('table.stack tr', { hasText: 'Cluster 1' }).getByText('In use').waitFor();
  await admin.context().close();

  await row.getByRole('button', { name: 'Delete the federated credential exporter on cluster 1' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Delete the federated credential “exporter on cluster 1”?' });
  await confirm.waitFor();
  await capture(page, 'delete-federated', { fullPage: false });
  await confirm.getByRole('button', { name: 'Delete credential' }).click();
  await page.getByRole('status').getByText('The federated credential “exporter on cluster 1” was deleted.').waitFor();
  assert.equal((await tokenWith(token)).status, 401);
  await page.context().close();
});

test('phone: the federated card, its dialog and the issuers page fit the screen', async () => {
  const page = await open('manager-mia', PHONE, `/applications/${app.client_id}`);
  await page.getByRole('heading', { name: 'Federated credentials' }).waitFor();
  await page.getByRole('button', { name: 'Add federated credential' }).click();
  await page.getByRole('dialog', { name: 'Add a federated credential' }).waitFor();
  await page.locator('#federated-name').fill('phone credential');
  await page.locator('#federated-issuer').selectOption(platform.base);
  await page.locator('#federated-subject').fill(`${WORKLOAD}-phone`);
  await fitsTheScreen(page, 'add-federated dialog on a phone');
  await capture(page, 'add-federated-phone', { fullPage: false });
  await page.getByRole('button', { name: 'Add federated credential' }).last().click();
  await page.getByRole('status').getByText('The federated credential “phone credential” was added.').waitFor();
  await fitsTheScreen(page, 'federated card on a phone');
  await page.getByRole('heading', { name: 'Federated credentials' }).scrollIntoViewIfNeeded();
  await capture(page, 'federated-phone', { fullPage: false });
  await page.context().close();

  const admin = await open('admin-ada', PHONE, '/admin/issuers');
  await admin.getByText('Cluster 1').waitFor();
  await fitsTheScreen(admin, 'issuers on a phone');
  await capture(admin, 'issuers-phone');
  await admin.context().close();
});
