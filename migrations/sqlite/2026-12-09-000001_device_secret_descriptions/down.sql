ALTER TABLE device_secrets DROP COLUMN description;
