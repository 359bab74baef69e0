// The local provider really enforces its factors: a full authorization-code flow with PKCE,
// and the ID token's amr/acr, for a user with TOTP and one without.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { startProvider, totpFor, ACR_MFA, ACR_PASSWORD } from './provider.js';

const fixture = JSON.parse(await readFile(new URL('./users.fixture.json', import.meta.url), 'utf8'));
const client = fixture.clients[0];
const redirectUri = 'http://127.0.0.1:1/callback';
let idp;

before(async () => { idp = await startProvider({ fixture, redirectUris: [redirectUri] }); });
after(async () => { await idp.close(); });

/** A browser-like client: follows redirects by hand and keeps cookies. */
function browser() {
  const jar = new Map();
  const remember = (response) => {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, ...value] = pair.split('=');
      jar.set(name.trim(), value.join('='));
    }
  };
  const headers = () => ({ cookie: [...jar].map(([n, v]) => `${n}=${v}`).join('; ') });
  return {
    async get(url) {
      const response = await fetch(url, { redirect: 'manual', headers: headers() });
      remember(response);
      return response;
    },
    async post(url, form) {
      const response = await fetch(url, {
        method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
        headers: { ...headers(), 'content-type': 'application/x-www-form-urlencoded' },
      });
      remember(response);
      return response;
    },
  };
}

/** Follows redirects until the relying party's callback; returns its URL. */
async function followToCallback(agent, response) {
  while (response.status >= 300 && response.status < 400) {
    const location = new URL(response.headers.get('location'), idp.issuer).href;
    if (location.startsWith(redirectUri)) return new URL(location);
    response = await agent.get(location);
  }
  return response;
}

async function startLogin(agent) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const url = new URL('/auth', idp.issuer);
  url.search = new URLSearchParams({
    client_id: client.client_id, response_type: 'code', scope: 'openid email profile',
    redirect_uri: redirectUri, state: 'state-1', nonce: 'nonce-1',
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  const toLogin = await agent.get(url);
  assert.equal(toLogin.status, 303);
  const interaction = new URL(toLogin.headers.get('location'), idp.issuer);
  const page = await agent.get(interaction);
  assert.match(await page.text(), /Password/);
  return { verifier, interaction };
}

async function idToken(code, verifier) {
  const response = await fetch(new URL('/token', idp.issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  assert.equal(response.status, 200);
  const { id_token: token } = await response.json();
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

test('password and TOTP give an ID token with amr mfa', async () => {
  const user = fixture.users.find((u) => u.sub === 'manager-mia');
  const agent = browser();
  const { verifier, interaction } = await startLogin(agent);
  const otpPage = await agent.post(`${interaction}/login`, { email: user.email, password: user.password });
  assert.match(await otpPage.text(), /Second factor/);
  const wrong = await agent.post(`${interaction}/otp`, { otp: '000000' === totpFor(user).generate() ? '111111' : '000000' });
  assert.match(await wrong.text(), /wrong or was already used/);
  const done = await agent.post(`${interaction}/otp`, { otp: totpFor(user).generate() });
  const callback = await followToCallback(agent, done);
  assert.equal(callback.searchParams.get('state'), 'state-1');
  const claims = await idToken(callback.searchParams.get('code'), verifier);
  assert.equal(claims.sub, user.sub);
  assert.equal(claims.email, user.email);
  assert.equal(claims.email_verified, true);
  assert.equal(claims.nonce, 'nonce-1');
  assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  assert.equal(claims.acr, ACR_MFA);

  // The same code cannot be used again within its step.
  const again = browser();
  const second = await startLogin(again);
  await again.post(`${second.interaction}/login`, { email: user.email, password: user.password });
  const reused = await again.post(`${second.interaction}/otp`, { otp: totpFor(user).generate() });
  assert.match(await reused.text(), /wrong or was already used/);
});

test('a user without a second factor gets amr pwd only', async () => {
  const user = fixture.users.find((u) => u.sub === 'nomfa-nora');
  const agent = browser();
  const { verifier, interaction } = await startLogin(agent);
  const done = await agent.post(`${interaction}/login`, { email: user.email, password: user.password });
  const callback = await followToCallback(agent, done);
  const claims = await idToken(callback.searchParams.get('code'), verifier);
  assert.deepEqual(claims.amr, ['pwd']);
  assert.equal(claims.acr, ACR_PASSWORD);
});

test('a wrong password is refused on the login page', async () => {
  const agent = browser();
  const { interaction } = await startLogin(agent);
  const refused = await agent.post(`${interaction}/login`, { email: 'ada.admin@clavis.test', password: 'guess' });
  assert.equal(refused.status, 200);
  assert.match(await refused.text(), /Wrong e-mail address or password/);
});

test('discovery publishes the endpoints and the acr values', async () => {
  const metadata = await (await fetch(new URL('/.well-known/openid-configuration', idp.issuer))).json();
  assert.equal(metadata.issuer, idp.issuer);
  assert.deepEqual(metadata.acr_values_supported, [ACR_MFA, ACR_PASSWORD]);
  assert.ok(metadata.end_session_endpoint);
  assert.ok(metadata.code_challenge_methods_supported.includes('S256'));
});
