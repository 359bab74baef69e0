DROP INDEX device_certificates_expiry;
DROP INDEX device_secrets_expiry;
ALTER TABLE reminder_deliveries RENAME COLUMN holder_id TO application_id;
