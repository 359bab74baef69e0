ALTER TABLE applications DROP COLUMN jwks_uri;
