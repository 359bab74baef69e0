// Runs the local OpenID Connect provider: `npm run provider` in e2e/ (see README).
// OIDC_PORT (default 9000), OIDC_REDIRECT_URIS (comma-separated; default Clavis's demo
// callback), OIDC_POST_LOGOUT_REDIRECT_URIS, OIDC_FIXTURE (default users.fixture.json).

import { readFile } from 'node:fs/promises';
import { startProvider } from './provider.js';

const fixturePath = process.env.OIDC_FIXTURE ?? new URL('./users.fixture.json', import.meta.url);
const fixture = JSON.parse(await readFile(fixturePath, 'utf8'));
const list = (value, fallback) => (value ? value.split(',').map((s) => s.trim()).filter(Boolean) : fallback);
const { issuer, close } = await startProvider({
  fixture,
  port: Number(process.env.OIDC_PORT ?? 9000),
  redirectUris: list(process.env.OIDC_REDIRECT_URIS, ['http://127.0.0.1:8080/auth/callback']),
  postLogoutRedirectUris: list(process.env.OIDC_POST_LOGOUT_REDIRECT_URIS, ['http://127.0.0.1:8080/']),
});
console.log(`local OpenID Connect provider (development tool) at ${issuer}`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => close().then(() => process.exit(0)));
}
