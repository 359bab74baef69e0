-- Foundation schema (SQLite). Keep in step with migrations/postgres: same tables, same names.
-- Identifiers are UUID text so they can be shown in URLs without revealing counts.

CREATE TABLE organisations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    country TEXT NOT NULL CHECK (length(country) = 2),
    sandbox BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX organisations_name_key ON organisations (lower(name));

CREATE TABLE apis (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    audience TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_scopes (
    api_id TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (api_id, name)
);

CREATE TABLE applications (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    name TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    environment TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    token_lifetime_secs INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);
CREATE UNIQUE INDEX applications_organisation_name_key ON applications (organisation_id, lower(name));

-- The APIs an application may receive tokens for ...
CREATE TABLE application_apis (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    api_id TEXT NOT NULL REFERENCES apis (id),
    PRIMARY KEY (application_id, api_id)
);
CREATE INDEX application_apis_api ON application_apis (api_id);

-- ... and, per API, the scopes it was granted (a subset of the API's scopes).
CREATE TABLE application_scopes (
    application_id TEXT NOT NULL,
    api_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    PRIMARY KEY (application_id, api_id, scope),
    FOREIGN KEY (application_id, api_id) REFERENCES application_apis (application_id, api_id) ON DELETE CASCADE,
    FOREIGN KEY (api_id, scope) REFERENCES api_scopes (api_id, name)
);

-- Never the secret value: only its argon2id PHC string and the first three characters.
CREATE TABLE client_secrets (
    id TEXT PRIMARY KEY NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hint TEXT NOT NULL CHECK (length(hint) = 3),
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX client_secrets_application_expiry ON client_secrets (application_id, expires_at);
CREATE INDEX client_secrets_expiry ON client_secrets (expires_at);

-- A person. Issuer and subject are empty until the first login of somebody who was
-- designated in advance by e-mail or by subject.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    issuer TEXT,
    subject TEXT,
    email TEXT,
    display_name TEXT,
    created_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);
CREATE UNIQUE INDEX users_issuer_subject_key ON users (issuer, subject);
CREATE INDEX users_subject ON users (subject);
CREATE INDEX users_email ON users (email);

CREATE TABLE role_assignments (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'credential_manager', 'viewer')),
    organisation_id TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    granted_at TIMESTAMP NOT NULL,
    granted_by TEXT NOT NULL,
    -- Admin is platform-wide; the other roles always name an organisation.
    CHECK ((role = 'admin') = (organisation_id IS NULL))
);
CREATE UNIQUE INDEX role_assignments_key ON role_assignments (user_id, role, coalesce(organisation_id, ''));
CREATE INDEX role_assignments_organisation ON role_assignments (organisation_id);

-- Append-only: no foreign keys, so the trail outlives what it describes.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('user', 'client', 'cli', 'system')),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    organisation_id TEXT,
    application_id TEXT,
    secret_id TEXT,
    source_address TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_organisation ON audit_events (organisation_id, occurred_at);
CREATE INDEX audit_events_application ON audit_events (application_id, occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at);
CREATE INDEX audit_events_action ON audit_events (action, occurred_at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
