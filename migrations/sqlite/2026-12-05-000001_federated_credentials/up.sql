-- Federated workload identity (issue 18, part 2). Admins trust OpenID Connect issuers (a
-- Kubernetes cluster's service account issuer, a CI system, a SPIFFE OIDC discovery
-- provider); credential managers let a workload's token from such an issuer stand for an
-- application, by its exact subject and audience. Nothing secret is stored: the issuer's keys
-- are fetched from its discovery document. Keep in step with the other database's migration
-- of the same name.
CREATE TABLE trusted_issuers (
    id TEXT PRIMARY KEY NOT NULL,
    -- The issuer identifier exactly as its tokens carry it in iss (OpenID Connect Discovery
    -- section 4.3: the discovery document names the same value).
    issuer TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);

-- An issuer cannot be untrusted while credentials name it (the store says which), hence
-- no cascade from trusted_issuers.
CREATE TABLE federated_credentials (
    id TEXT PRIMARY KEY NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    issuer_id TEXT NOT NULL REFERENCES trusted_issuers (id),
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    audience TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    last_used_at TIMESTAMP
);
CREATE UNIQUE INDEX federated_credentials_subject ON federated_credentials (application_id, issuer_id, subject);
CREATE INDEX federated_credentials_issuer ON federated_credentials (issuer_id);
