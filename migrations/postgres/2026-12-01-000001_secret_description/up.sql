-- An optional note on a client secret, so its people can tell what it is for ("CI deploy
-- key of the billing service"). Empty when none was given; at most 200 characters
-- (clavis_shared::validate::MAX_SECRET_DESCRIPTION_CHARS). Keep in step with the other
-- database's migration of the same name.
ALTER TABLE client_secrets ADD COLUMN description TEXT NOT NULL DEFAULT '';
