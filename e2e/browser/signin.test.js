// Signing in and out as people meet it: a first visit, a sign-out, and the refusals, whose
// "sign in again" must not loop back to the same refusal through the provider's session.

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { capture, fitsTheScreen, screenshots, signIn, startStack } from './stack.js';

let stack;
const problems = [];

before(async () => {
  await mkdir(screenshots, { recursive: true });
  stack = await startStack({ supportContact: 'the API team at api-support@example.org' });
  await stack.seedDemoWorld();
  // Ben keeps his account at the provider but loses his only role here.
  const bens = (await stack.cli('user', 'list')).filter((role) => role.email === 'ben.manager@beta.test');
  for (const role of bens) await stack.cli('user', 'revoke', '--id', role.id);
});

after(async () => {
  await stack?.stop();
});

async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await stack.browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(String(error)));
  return page;
}

afterEach(() => {
  assert.deepEqual(problems.splice(0), [], 'no script error on any page');
});

test('a first visit asks to sign in without saying a session ended', async () => {
  for (const [suffix, viewport] of [['', { width: 1280, height: 900 }], ['-phone', { width: 390, height: 844 }]]) {
    const page = await newPage(viewport);
    const encodings = new Map();
    page.on('response', (response) => {
      const name = new URL(response.url()).pathname;
      if (/\.(wasm|js|css)$/.test(name)) encodings.set(name.split('.').pop(), response.headers()['content-encoding']);
    });
    await page.goto(`${stack.clavis}/applications/00000000-0000-0000-0000-000000000000`);
    await page.getByRole('heading', { name: 'Sign in to Clavis' }).waitFor();
    const text = await page.textContent('main');
    assert.ok(!text.includes('session has ended'), text);
    assert.ok(!text.includes('signed out'), text);
    assert.equal(await page.title(), 'Sign in · Clavis');
    // The portal's files arrive precompressed with brotli (cargo xtask frontend made them).
    assert.deepEqual(Object.fromEntries(encodings), { js: 'br', wasm: 'br', css: 'br' });
    await fitsTheScreen(page);
    await capture(page, `signin${suffix}`);
  }
});

test('signing out, through the provider and back, says so', async () => {
  const page = await newPage();
  await signIn(stack, page, 'manager-mia');
  await page.getByRole('button', { name: 'Sign out' }).click();
  // The provider asks whether to end its session too (RP-initiated logout).
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await page.getByText('You have signed out.').waitFor();
  assert.ok(!(await page.textContent('main')).includes('session has ended'));
  await capture(page, `signed-out`);
  await page.setViewportSize({ width: 390, height: 844 });
  await fitsTheScreen(page);
  await capture(page, `signed-out-phone`);
});

test('a session that ends sends the person to sign in, saying so, and back', async () => {
  const page = await newPage();
  await signIn(stack, page, 'manager-mia');
  await page.context().clearCookies({ name: /clavis/ });
  await page.goto(`${stack.clavis}/audit`);
  await page.getByText('Your session has ended. Sign in again to return to the page you were on.').waitFor();
});

test('after a refusal for a missing second factor, signing in again asks the provider afresh', async () => {
  const page = await newPage();
  await signIn(stack, page, 'nomfa-nora', { expectRefusal: true });
  await page.getByRole('heading', { name: 'Sign-in refused: no second factor' }).waitFor();
  await page.getByRole('link', { name: 'Use another account' }).waitFor();
  await page.setViewportSize({ width: 390, height: 844 });
  await fitsTheScreen(page);
  await capture(page, `refused-no-mfa-phone`);
  await page.getByRole('link', { name: 'Sign in again with a second factor' }).click();
  // The provider's own session would have answered at once with the same refusal; a fresh
  // login shows its form instead.
  await page.getByLabel('E-mail address').waitFor();
  assert.ok(!page.url().startsWith(stack.clavis), page.url());
});

test('a person without a role is told whom to ask, and can switch accounts', async () => {
  for (const [suffix, viewport] of [['', { width: 1280, height: 900 }], ['-phone', { width: 390, height: 844 }]]) {
    const page = await newPage(viewport);
    await signIn(stack, page, 'manager-ben', { expectRefusal: true });
    await page.getByRole('heading', { name: 'Sign-in refused: no access to Clavis yet' }).waitFor();
    assert.ok((await page.textContent('body')).includes('Ask the API team at api-support@example.org'));
    const writeTo = page.getByRole('link', { name: 'Write to api-support@example.org' });
    assert.equal(await writeTo.getAttribute('href'), 'mailto:api-support@example.org');
    await fitsTheScreen(page);
    await capture(page, `refused-no-role${suffix}`);
    await page.getByRole('link', { name: 'Use another account' }).click();
    await page.getByLabel('E-mail address').waitFor();
  }
});
