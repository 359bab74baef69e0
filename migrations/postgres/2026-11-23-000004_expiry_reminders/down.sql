DELETE FROM job_locks WHERE name = 'expiry_reminders';
DROP TABLE reminder_deliveries;
ALTER TABLE organisations DROP COLUMN notification_email;
