// A local OpenID Connect provider for Clavis's tests and demo, built on the certified
// `oidc-provider` package: password, then a TOTP code (RFC 6238) for users who have one.
// ID tokens carry `amr` and `acr` that say what the user really did.
// A development tool: never run it for real people.

import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as OTPAuth from 'otpauth';

export const ACR_MFA = 'urn:clavis:acr:mfa';
export const ACR_PASSWORD = 'urn:clavis:acr:pwd';

/** The TOTP generator of a fixture user (30 s steps, 6 digits, SHA-1: what apps expect). */
export function totpFor(user) {
  return new OTPAuth.TOTP({
    issuer: 'Clavis local IdP',
    label: user.email,
    secret: OTPAuth.Secret.fromBase32(user.totp_secret),
  });
}

/**
 * Starts the provider on `port` (0 picks a free one) and resolves to { issuer, address, close }.
 * `redirectUris` are the relying party's callback URLs (exact match, as the spec requires).
 * `issuer` overrides the issuer URL, for when the provider is reached through a proxy (the
 * relying party's tests put one in front to tamper with ID tokens); by default it is the
 * address the provider listens on.
 */
export async function startProvider({ fixture, port = 0, host = '127.0.0.1', issuer: publicIssuer, redirectUris, postLogoutRedirectUris = [] }) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(port, host, resolve));
  const address = `http://${host}:${server.address().port}`;
  const issuer = publicIssuer ?? address;
  const users = new Map(fixture.users.map((user) => [user.sub, user]));
  const provider = new Provider(issuer, configuration(fixture, users, redirectUris, postLogoutRedirectUris));
  const interactions = interactionHandler(provider, fixture.users);
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    if (path.startsWith('/interaction/')) {
      interactions(req, res, path).catch((error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`interaction failed: ${error.message}`);
      });
      return;
    }
    callback(req, res);
  });
  return {
    issuer,
    address,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

function configuration(fixture, users, redirectUris, postLogoutRedirectUris) {
  // Fresh signing keys each start, rather than the package's published quick-start keys;
  // RS256 is the ID token algorithm clients get unless they ask for another.
  const generated = (type, options, alg) => ({
    ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
    alg,
    use: 'sig',
    kid: crypto.randomUUID(),
  });
  return {
    jwks: {
      keys: [generated('rsa', { modulusLength: 2048 }, 'RS256'), generated('ec', { namedCurve: 'P-256' }, 'ES256')],
    },
    clients: fixture.clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    async findAccount(ctx, sub) {
      const user = users.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          // Extra claims from the fixture (such as roles and organisation) ride along.
          return { ...user.claims, sub, email: user.email, email_verified: true, name: user.name };
        },
      };
    },
    // amr/acr reach the ID token only when listed under the openid scope.
    // `roles` and `organisation` let relying parties map roles from the ID token.
    claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], email: ['email', 'email_verified'], profile: ['name', 'roles', 'organisation'] },
    conformIdTokenClaims: false,
    acrValues: [ACR_MFA, ACR_PASSWORD],
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600 },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // Distinct names, so they never clash with the portal's cookies on the same host.
    cookies: {
      names: { session: 'idp_session', interaction: 'idp_interaction', resume: 'idp_resume' },
      keys: [crypto.randomBytes(32).toString('hex')],
    },
    // First-party client: consent is implied.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  };
}

/** The login pages: password first, then the TOTP code when the user has a second factor. */
function interactionHandler(provider, users) {
  const passwordChecked = new Map(); // interaction uid -> sub, between the two steps
  const lastCounter = new Map(); // sub -> last TOTP step used, so a code works once

  return async function handle(req, res, path) {
    const [, , uid, step] = path.split('/');
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    if (req.method === 'GET') {
      return page(res, loginForm(uid));
    }
    const form = new URLSearchParams(await body(req));
    if (step === 'login') {
      const user = users.find((u) => u.email === form.get('email')?.trim().toLowerCase());
      if (!user || !safeEqual(user.password, form.get('password') ?? '')) {
        return page(res, loginForm(uid, 'Wrong e-mail address or password.'));
      }
      if (!user.totp_secret) {
        return finish(provider, req, res, user.sub, ['pwd'], ACR_PASSWORD);
      }
      passwordChecked.set(uid, user.sub);
      return page(res, otpForm(uid));
    }
    if (step === 'otp') {
      const sub = passwordChecked.get(uid);
      const user = users.find((u) => u.sub === sub);
      if (!user) return page(res, loginForm(uid, 'Sign in with your password first.'));
      const counter = acceptedCounter(user, form.get('otp') ?? '');
      if (counter === null || counter <= (lastCounter.get(sub) ?? -1)) {
        return page(res, otpForm(uid, 'That code is wrong or was already used. Enter the current code.'));
      }
      lastCounter.set(sub, counter);
      passwordChecked.delete(uid);
      return finish(provider, req, res, sub, ['pwd', 'otp', 'mfa'], ACR_MFA);
    }
    res.writeHead(404).end();
  };
}

/** The TOTP step the code belongs to (now, or one step either side), or null. */
function acceptedCounter(user, code) {
  const totp = totpFor(user);
  const delta = totp.validate({ token: code.trim(), window: 1 });
  return delta === null ? null : totp.counter() + delta;
}

function finish(provider, req, res, sub, amr, acr) {
  return provider.interactionFinished(req, res, { login: { accountId: sub, amr, acr } }, { mergeWithLastSubmission: false });
}

function safeEqual(expected, given) {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function body(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; if (data.length > 10_000) req.destroy(); });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function page(res, content) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Local IdP sign-in</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto}label{display:block;margin-top:1rem}
input{width:100%;padding:.4rem}button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b42318}</style></head>
<body><p><strong>Local identity provider</strong> (development tool)</p>${content}</body></html>`);
}

function escape(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginForm(uid, error) {
  return `<h1>Sign in</h1>${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="email">E-mail address</label><input id="email" name="email" type="email" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Continue</button></form>`;
}

function otpForm(uid, error) {
  return `<h1>Second factor</h1>${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/otp">
<label for="otp">Code from your authenticator app</label><input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required autofocus>
<button type="submit">Verify</button></form>`;
}
