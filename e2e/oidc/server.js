// Runs the local OpenID Connect provider: `npm run provider` in e2e/ (see README).
// OIDC_PORT (default 9000; 0 picks a free port), OIDC_ISSUER (default: the address it
// listens on; set it when a proxy sits in front), OIDC_REDIRECT_URIS (comma-separated; default Clavis's demo
// callback), OIDC_POST_LOGOUT_REDIRECT_URIS, OIDC_FIXTURE (default users.fixture.json).

import { readFile } from 'node:fs/promises';
import { startProvider } from './provider.js';

const fixturePath = process.env.OIDC_FIXTURE ?? new URL('./users.fixture.json', import.meta.url);
const fixture = JSON.parse(await readFile(fixturePath, 'utf8'));
const list = (value, fallback) => (value ? value.split(',').map((s) => s.trim()).filter(Boolean) : fallback);
const { issuer, address, close } = await startProvider({
  fixture,
  port: Number(process.env.OIDC_PORT ?? 9000),
  issuer: process.env.OIDC_ISSUER || undefined,
  redirectUris: list(process.env.OIDC_REDIRECT_URIS, ['http://127.0.0.1:8080/auth/callback']),
  postLogoutRedirectUris: list(process.env.OIDC_POST_LOGOUT_REDIRECT_URIS, ['http://127.0.0.1:8080/']),
});
// Tests read these two lines to learn where the provider is.
console.log(`local OpenID Connect provider (development tool) at ${issuer}`);
console.log(`listening on ${address}`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => close().then(() => process.exit(0)));
}
