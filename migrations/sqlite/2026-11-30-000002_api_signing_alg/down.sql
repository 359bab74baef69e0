ALTER TABLE apis DROP COLUMN signing_alg;
