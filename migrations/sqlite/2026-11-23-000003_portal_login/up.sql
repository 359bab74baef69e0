-- Portal login: server-side sessions (shared by every instance) and the short-lived state of
-- logins in progress. Keep in step with the other database's migration of the same name.

-- A signed-in person. The browser holds a random token; only its SHA-256 is stored, so a
-- leaked database cannot be replayed as a cookie. `claimed_roles` holds the roles the ID
-- token's role claim granted at login (JSON), on top of Clavis's own assignments.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    claimed_roles TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- A login between the redirect to the provider and its callback, bound to the browser by a
-- cookie whose SHA-256 is the key. Used once, then deleted; stale ones are pruned.
CREATE TABLE login_attempts (
    id_hash TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_created ON login_attempts (created_at);
