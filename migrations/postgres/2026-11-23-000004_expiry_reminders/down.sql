DELETE FROM job_locks WHERE name = 'expiry_reminders';
DROP TABLE reminder_deliveries;
ALTER TABLE organisations DROP COLUMN notification_email;
ALTER TABLE users DROP COLUMN claimed_organisation_id;
ALTER TABLE users DROP COLUMN claimed_role;
