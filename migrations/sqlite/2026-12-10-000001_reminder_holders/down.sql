ALTER TABLE devices DROP COLUMN tokens_revoked_before;
ALTER TABLE device_certificates DROP COLUMN not_before;
DROP INDEX device_certificates_expiry;
DROP INDEX device_secrets_expiry;
ALTER TABLE reminder_deliveries RENAME COLUMN holder_id TO application_id;
