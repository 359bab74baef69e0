ALTER TABLE applications DROP COLUMN requires_device;
DROP TABLE device_certificates;
DROP TABLE device_secrets;
DROP TABLE devices;
