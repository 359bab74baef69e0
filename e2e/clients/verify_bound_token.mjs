// Verifies a certificate-bound access token as an independent resource server would
// (RFC 8705 §3, RFC 9068): jose checks the signature against the JWKS, the token type, issuer,
// audience and times; Node's own X509Certificate gives the certificate's DER, whose SHA-256
// must be the token's cnf x5t#S256. The integration tests run it (issue 19), so that Clavis's
// bound tokens are proven against a library Clavis did not write.
//
// Usage: node verify_bound_token.mjs JWKS_FILE ISSUER AUDIENCE TOKEN_FILE CERT_PEM_FILE
// Prints {"verified":true,"client_id":…} or {"verified":false,"reason":…}; exits 0 either way.
import { readFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, issuer, audience, tokenFile, certFile] = process.argv.slice(2);
const keys = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
const token = readFileSync(tokenFile, 'utf8').trim();
let answer;
try {
  const { payload } = await jwtVerify(token, keys, { issuer, audience, typ: 'at+jwt' });
  const der = new X509Certificate(readFileSync(certFile)).raw;
  const thumbprint = createHash('sha256').update(der).digest('base64url');
  answer = payload.cnf?.['x5t#S256'] === thumbprint
    ? { verified: true, client_id: payload.client_id }
    : { verified: false, reason: 'the certificate is not the one in cnf' };
} catch (error) {
  answer = { verified: false, reason: error.code ?? error.message };
}
console.log(JSON.stringify(answer));
