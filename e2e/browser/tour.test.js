// Every page for every role, at desktop and phone width (issue 16): a credential manager, a
// viewer and an admin each visit every page their navigation offers. Each page must load
// without an error, carry its own title, fit its window without sideways scrolling and show
// no program text (`capture` checks the last two and saves the screenshot as
// tour-<role>-<page>[-phone].png).

import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { capture, screenshots, signIn, startStack } from './stack.js';

const WIDTHS = [['', { width: 1280, height: 900 }], ['-phone', { width: 390, height: 844 }]];

let stack;
let acme;
let acmeOrganisation;
const problems = [];

before(async () => {
  await mkdir(screenshots, { recursive: true });
  stack = await startStack();
  const applications = await stack.seedDemoWorld();
  acme = applications.get('Acme');
  acmeOrganisation = (await stack.cli('org', 'list')).find((organisation) => organisation.name === 'Acme');
});

after(async () => {
  await stack?.stop();
});

afterEach(() => {
  assert.deepEqual(problems.splice(0), [], 'no script error on any page');
});

/** The pages each role's navigation leads to: (name in the screenshot, path, heading). */
function pagesOf(role) {
  const everyone = [
    ['dashboard', '/', 'Your applications'],
    ['application', `/applications/${acme.client_id}`, acme.name],
    ['audit', '/audit', 'Audit log'],
  ];
  if (role !== 'admin') return everyone;
  return [
    ...everyone,
    ['admin', '/admin', 'Admin'],
    ['organisations', '/admin/organisations', 'Organisations'],
    ['organisation', `/admin/organisations/${acmeOrganisation.id}`, 'Acme'],
    ['applications', '/admin/applications', 'Applications'],
    ['apis', '/admin/apis', 'APIs and scopes'],
    ['people', '/admin/people', 'People and roles'],
  ];
}

/** Waits until the page has its heading and nothing on it is still loading. */
async function settled(page, heading) {
  await page.getByRole('heading', { name: heading, level: 1 }).first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('.loading').length === 0);
}

for (const [role, sub] of [['manager', 'manager-mia'], ['viewer', 'viewer-vic'], ['admin', 'admin-ada']]) {
  test(`every page that ${role === "admin" ? "an" : "a"} ${role} can reach fits desktop and phone, titled and readable`, async () => {
    const signingIn = await stack.browser.newContext();
    const first = await signingIn.newPage();
    await signIn(stack, first, sub);
    const session = await signingIn.storageState();
    await signingIn.close();
    for (const [suffix, viewport] of WIDTHS) {
      const context = await stack.browser.newContext({ viewport, storageState: session, isMobile: suffix !== '' });
      const page = await context.newPage();
      page.on('pageerror', (error) => problems.push(String(error)));
      for (const [name, path, heading] of pagesOf(role)) {
        await page.goto(`${stack.clavis}${path}`);
        await settled(page, heading);
        const title = await page.title();
        assert.ok(title.endsWith(' · Clavis') && title !== 'Clavis', `${path} is titled "${title}"`);
        assert.equal(await page.locator('main .error[role="alert"]:visible').count(), 0, `${path} shows an error`);
        await capture(page, `tour-${role}-${name}${suffix}`);
      }
      await context.close();
    }
  });
}
