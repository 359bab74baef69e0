ALTER TABLE client_keys DROP COLUMN certificate_sha256;
