// Starts what the browser tests need, all real and all local: the OpenID Connect provider
// (oidc/), Clavis itself (the debug binary, on a fresh SQLite database, serving the built
// portal) and headless Chromium from Debian. Clavis is seeded through its own CLI with the
// demo world of fixtures/demo-world.json, the one `cargo xtask demo` and the integration tests
// use too.

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { startProvider, totpFor } from '../oidc/provider.js';

const root = path.resolve(import.meta.dirname, '../..');
const clavisBinary = path.join(root, 'target/debug/clavis');
export const screenshots = path.join(root, 'e2e/artifacts/screenshots');
const run = promisify(execFile);

/** A free loopback port (Clavis's redirect URI must be known before the provider starts). */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts the stack; `supportContact` sets CLAVIS_SUPPORT_CONTACT, `jwksUriHosts`
 * CLAVIS_JWKS_URI_HOSTS, `outboundCaFile` CLAVIS_OUTBOUND_CA_FILE.
 */
export async function startStack({ supportContact, jwksUriHosts, outboundCaFile } = {}) {
  const fixture = JSON.parse(await readFile(path.join(root, 'e2e/oidc/users.fixture.json'), 'utf8'));
  const port = await freePort();
  const clavis = `http://127.0.0.1:${port}`;
  const provider = await startProvider({
    fixture,
    redirectUris: [`${clavis}/auth/callback`],
    postLogoutRedirectUris: [`${clavis}/`],
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clavis-e2e-'));
  const env = {
    ...process.env,
    CLAVIS_LISTEN: `127.0.0.1:${port}`,
    CLAVIS_PUBLIC_URL: clavis,
    CLAVIS_DATA_DIR: dir,
    CLAVIS_FRONTEND_DIR: path.join(root, 'frontend/dist'),
    CLAVIS_LOG_LEVEL: 'warn',
    CLAVIS_OIDC_ISSUER: provider.issuer,
    CLAVIS_OIDC_CLIENT_ID: fixture.clients[0].client_id,
    CLAVIS_OIDC_CLIENT_SECRET: fixture.clients[0].client_secret,
    ...(supportContact ? { CLAVIS_SUPPORT_CONTACT: supportContact } : {}),
    ...(jwksUriHosts ? { CLAVIS_JWKS_URI_HOSTS: jwksUriHosts } : {}),
    ...(outboundCaFile ? { CLAVIS_OUTBOUND_CA_FILE: outboundCaFile } : {}),
  };
  const cli = async (...args) => {
    const { stdout } = await run(clavisBinary, [...args, '--json'], { env, cwd: root });
    return JSON.parse(stdout);
  };
  const server = spawn(clavisBinary, ['serve'], { env, cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  await waitUntilReady(`${clavis}/readyz`, server);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const users = new Map(fixture.users.map((user) => [user.sub, user]));
  return {
    clavis,
    issuer: provider.issuer,
    cli,
    seedDemoWorld: () => seedDemoWorld(cli),
    browser,
    user: (sub) => users.get(sub),
    totp: (sub) => totpFor(users.get(sub)).generate(),
    async stop() {
      await browser.close();
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
      await provider.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Creates the demo world's organisations, APIs, applications and people's roles, in that
 * order (each names what came before), through the CLI. Returns each organisation's
 * application (as `app create --json` prints it) by organisation name.
 */
async function seedDemoWorld(cli) {
  const world = JSON.parse(await readFile(path.join(root, 'fixtures/demo-world.json'), 'utf8'));
  for (const { name, country, sandbox } of world.organisations) {
    await cli('org', 'create', '--name', name, '--country', country, ...(sandbox ? ['--sandbox'] : []));
  }
  for (const { code, name, audience, scopes } of world.apis) {
    await cli('api', 'create', '--code', code, '--name', name, '--audience', audience, '--scopes', scopes);
  }
  const applications = new Map();
  for (const { organisation, api } of world.applications) {
    applications.set(organisation, await cli('app', 'create', '--org', organisation, '--api', api));
  }
  for (const { email, role, organisation } of world.people) {
    await cli('user', 'grant', '--email', email, '--role', role, ...(organisation ? ['--org', organisation] : []));
  }
  return applications;
}

async function waitUntilReady(url, server) {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (server.exitCode !== null) throw new Error(`clavis serve exited with ${server.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Clavis did not become ready at ${url}`);
}

/** Signs in through the portal's sign-in page and the provider's password and TOTP pages. */
// The provider accepts each TOTP code once (RFC 6238 §5.2), so a person who signs in again
// within the same 30-second step waits for the next code instead of being refused.
const TOTP_STEP_MS = 30_000;
const lastTotpStep = new Map();

async function awaitUnusedTotpStep(sub) {
  const step = Math.floor(Date.now() / TOTP_STEP_MS);
  if (lastTotpStep.get(sub) === step) {
    await new Promise((resolve) => setTimeout(resolve, (step + 1) * TOTP_STEP_MS - Date.now() + 100));
  }
  lastTotpStep.set(sub, Math.floor(Date.now() / TOTP_STEP_MS));
}

export async function signIn(stack, page, sub, { expectRefusal = false } = {}) {
  const user = stack.user(sub);
  await page.goto(`${stack.clavis}/`);
  await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
  await page.getByLabel('E-mail address').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Continue' }).click();
  if (user.totp_secret) {
    await awaitUnusedTotpStep(sub);
    await page.getByLabel('Code from your authenticator app').fill(stack.totp(sub));
    await page.getByRole('button', { name: 'Verify' }).click();
  }
  if (!expectRefusal) {
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }
}

/**
 * What `view!` source looks like when it leaks into a page as text (issue 16: a button
 * labelled `= pages on : click = move | _ | page.set(current + 1) >Older`): closures,
 * event bindings, signal calls and match arms, as written and as tokens print them.
 */
const SOURCE_PATTERNS = [/move\s*\|/, /\bon\s*:\s*[a-z]+\s*=/, /\bprop\s*:\s*[a-z]+\s*=/, /=>/,
  /\.\s*set\s*\(/, /\.\s*get\s*\(\s*\)/, /\|\s*_\s*\|/];

/**
 * Fails when the text a person sees on `page` (its body's innerText: not hidden elements,
 * not closed <details>) contains view!-source patterns. Call it on every page a test visits.
 */
export async function assertNoSourceText(page) {
  const text = await page.evaluate(() => document.body.innerText);
  const leaked = SOURCE_PATTERNS.filter((pattern) => pattern.test(text));
  if (leaked.length > 0) {
    const first = text.match(leaked[0]);
    const context = text.slice(Math.max(0, first.index - 60), first.index + 60);
    throw new Error(`${page.url()} shows program text (${leaked.join(', ')}): …${context}…`);
  }
}

/** Fails when `page` scrolls sideways: wider than its window (issue 16, defect 2). */
export async function fitsTheScreen(page, what = page.url()) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  if (scrollWidth > innerWidth) {
    throw new Error(`${what}: the page is ${scrollWidth} px wide in a ${innerWidth} px window`);
  }
}

/**
 * Saves a screenshot as e2e/artifacts/screenshots/<name>.png, after the checks every page
 * must pass whatever the test is about: it fits its window and shows no program text.
 */
export async function capture(page, name, { fullPage = true } = {}) {
  await fitsTheScreen(page, name);
  await assertNoSourceText(page);
  await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage });
}
