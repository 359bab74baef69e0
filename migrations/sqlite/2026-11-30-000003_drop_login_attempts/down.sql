CREATE TABLE login_attempts (
    id_hash TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_created ON login_attempts (created_at);
