// Prints the current TOTP code of a fixture user: `node e2e/oidc/totp.js mia.manager@acme.test` (from the repository root).

import { readFile } from 'node:fs/promises';
import { totpFor } from './provider.js';

const fixture = JSON.parse(await readFile(new URL('./users.fixture.json', import.meta.url), 'utf8'));
const email = process.argv[2];
const user = fixture.users.find((u) => u.email === email);
if (!user) {
  console.error(`usage: node e2e/oidc/totp.js <e-mail>; known: ${fixture.users.map((u) => u.email).join(', ')}`);
  process.exit(2);
}
if (!user.totp_secret) {
  console.error(`${email} has no second factor`);
  process.exit(1);
}
console.log(totpFor(user).generate());
