-- Device identities (issue 19, part 3): the nodes an organisation's applications run on. An
-- application that requires a device gets tokens only when the request also proves a device
-- of its organisation (X-Device-Authorization, as SanteDB sends it). A device's id is a GUID,
-- generated or supplied, as an application's client_id is. Device secrets follow the rules
-- of client secrets: only an argon2id hash and a three-character hint are kept. Keep in
-- step with the other database's migration of the same name.
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);
CREATE UNIQUE INDEX devices_name ON devices (organisation_id, name);

CREATE TABLE device_secrets (
    id TEXT PRIMARY KEY NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hint TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX device_secrets_device ON device_secrets (device_id);

-- Certificates a device proves itself with over mutual TLS instead of a secret, matched by
-- the SHA-256 thumbprint of their DER (as x5t#S256, RFC 8705 section 3.1): one device each.
CREATE TABLE device_certificates (
    id TEXT PRIMARY KEY NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    certificate_sha256 TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX device_certificates_device ON device_certificates (device_id);

ALTER TABLE applications ADD COLUMN requires_device BOOLEAN NOT NULL DEFAULT FALSE;
