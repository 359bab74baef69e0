-- Where an application publishes the keys it signs client assertions with, instead of
-- registering them one by one (RFC 7591 section 2, jwks_uri; issue 18). An https URL on a
-- host the configuration allows (jwks_uri_hosts); NULL for none. Keep in step with the other
-- database's migration of the same name.
ALTER TABLE applications ADD COLUMN jwks_uri TEXT;
