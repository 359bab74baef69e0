-- How an application may prove itself at the token endpoint (issue 19):
-- auth_methods: the methods it accepts, space-separated (client_secret, private_key_jwt,
--   federated_credential, self_signed_tls_client_auth, tls_client_auth); NULL accepts every
--   method it has credentials for.
-- tls_client_auth_field and tls_client_auth_value: what a CA-issued client certificate
--   must name for tls_client_auth (RFC 8705 section 2.1.2): the field is one of
--   tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip or _san_email; both or neither.
-- require_bound_tokens: tokens are issued only over mutual TLS, bound to the certificate
--   (RFC 8705 section 3).
-- Keep in step with the other database's migration of the same name.
ALTER TABLE applications ADD COLUMN auth_methods TEXT;
ALTER TABLE applications ADD COLUMN tls_client_auth_field TEXT;
ALTER TABLE applications ADD COLUMN tls_client_auth_value TEXT;
ALTER TABLE applications ADD COLUMN require_bound_tokens BOOLEAN NOT NULL DEFAULT FALSE;
