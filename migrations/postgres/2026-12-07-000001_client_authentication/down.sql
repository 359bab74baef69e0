ALTER TABLE applications DROP COLUMN require_bound_tokens;
ALTER TABLE applications DROP COLUMN tls_client_auth_value;
ALTER TABLE applications DROP COLUMN tls_client_auth_field;
ALTER TABLE applications DROP COLUMN auth_methods;
