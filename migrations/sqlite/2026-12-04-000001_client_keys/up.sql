-- Public keys and certificates that applications prove themselves with at the token
-- endpoint (private_key_jwt, RFC 7523 section 2.2; issue 18). Only public material is
-- stored: the key as a public JWK (RFC 7517), its SHA-256 JWK thumbprint (RFC 7638), and for
-- a certificate its subject; its expiry is the certificate's notAfter. Keep in step with the
-- other database's migration of the same name.
CREATE TABLE client_keys (
    id TEXT PRIMARY KEY NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('certificate', 'public_key', 'jwk')),
    key_type TEXT NOT NULL,
    kid TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
-- One application cannot hold the same key twice, nor two keys an assertion's kid could
-- both name.
CREATE UNIQUE INDEX client_keys_application_thumbprint ON client_keys (application_id, thumbprint);
CREATE UNIQUE INDEX client_keys_application_kid ON client_keys (application_id, kid);
CREATE INDEX client_keys_expiry ON client_keys (expires_at);

-- The jti of every client assertion accepted, until the assertion expires: a jti is never
-- accepted twice for a client while its assertion is valid, on any instance (RFC 7523
-- section 3, item 7). Pruned by the maintenance job once expires_at has passed.
CREATE TABLE client_assertion_jtis (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
