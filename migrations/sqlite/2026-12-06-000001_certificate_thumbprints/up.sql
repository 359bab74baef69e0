-- The SHA-256 thumbprint of a registered certificate's DER (base64url, as the x5t#S256 of
-- RFC 8705 section 3.1): self_signed_tls_client_auth matches the certificate a client
-- presents over mutual TLS against it (RFC 8705 section 2.2; issue 19). NULL for a public
-- key, and for certificates registered before this migration, whose DER was not kept: they
-- still sign private_key_jwt assertions, and must be registered again to be used for mutual
-- TLS. Keep in step with the other database's migration of the same name.
ALTER TABLE client_keys ADD COLUMN certificate_sha256 TEXT;
