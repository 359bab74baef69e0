DROP TABLE job_locks;
DROP TABLE revoked_tokens;
DROP TABLE signing_keys;
