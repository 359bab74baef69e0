-- A device secret gets a description, as a client secret has (what uses it), so that the
-- portal's secrets card works the same for applications and devices. Keep in step with the
-- other database's migration of the same name.
ALTER TABLE device_secrets ADD COLUMN description TEXT NOT NULL DEFAULT '';
