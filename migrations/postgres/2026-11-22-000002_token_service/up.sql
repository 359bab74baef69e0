-- Token service: signing keys (encrypted at rest), revoked access tokens, and the locks that
-- keep several instances from generating or rotating keys at the same time.
-- Keep in step with migrations/sqlite.

-- A key signs from activates_at until its successor activates, and stays published in the
-- JWKS until every token it signed has expired. The private key is PKCS#8 DER sealed with
-- XChaCha20-Poly1305 under the master key (nonce || ciphertext, base64), bound to its kid.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('ES256', 'RS256', 'EdDSA')),
    sealed_private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activates_at TIMESTAMP NOT NULL
);
CREATE INDEX signing_keys_activation ON signing_keys (activates_at);

-- Revoked access tokens (RFC 7009), kept until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- One row per job that only one instance may run at a time: a transaction that starts by
-- updating the row holds the lock (a row lock on PostgreSQL, the write lock on SQLite).
CREATE TABLE job_locks (
    name TEXT PRIMARY KEY NOT NULL,
    locked_at TIMESTAMP
);
INSERT INTO job_locks (name) VALUES ('signing_keys');
