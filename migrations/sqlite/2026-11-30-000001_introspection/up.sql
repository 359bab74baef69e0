-- Introspection that tells each caller only what it may know (RFC 7662 §4), and a kill
-- switch for an application's tokens. Keep in step with migrations/postgres.

-- Applications registered by admins as resource servers of an API: besides a token's own
-- client, only these may introspect tokens whose aud is the API's audience.
CREATE TABLE api_resource_servers (
    api_id TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    PRIMARY KEY (api_id, application_id)
);
CREATE INDEX api_resource_servers_application ON api_resource_servers (application_id);

-- The kill switch: every token of the application issued at or before this moment is
-- inactive in introspection. NULL until an admin first uses it.
ALTER TABLE applications ADD COLUMN tokens_revoked_before TIMESTAMP;
