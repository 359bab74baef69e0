-- Reminders now cover devices' credentials too (issue 19): the ledger's column names the
-- holder, an application's internal id or a device's id, and device credentials get the
-- expiry index the reminder pass reads by, as client secrets and keys have. A device
-- certificate keeps its notBefore, so that it proves nothing before then (NULL for the few
-- registered before this column, whose start the token endpoint then does not check). Keep in
-- step with the other database's migration of the same name.
ALTER TABLE reminder_deliveries RENAME COLUMN application_id TO holder_id;
CREATE INDEX device_secrets_expiry ON device_secrets (expires_at);
CREATE INDEX device_certificates_expiry ON device_certificates (expires_at);
ALTER TABLE device_certificates ADD COLUMN not_before TIMESTAMP;
-- Disabling a device revokes what it was issued until then (the moment is kept here), so
-- that enabling it again brings no old token back.
ALTER TABLE devices ADD COLUMN tokens_revoked_before TIMESTAMP;
