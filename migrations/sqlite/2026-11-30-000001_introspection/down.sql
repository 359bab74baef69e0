ALTER TABLE applications DROP COLUMN tokens_revoked_before;
DROP TABLE api_resource_servers;
