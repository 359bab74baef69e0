-- The JWS algorithm each API's access tokens are signed with (RFC 9068 §2.1 requires RS256
-- of every conforming resource server; some need it, or EdDSA). Keep in step with the other
-- database's migration of the same name.
-- NULL: the API was registered before this column existed and keeps signing as it did, with
-- the configured CLAVIS_TOKEN_SIGNING_ALG. New APIs store their algorithm explicitly.
ALTER TABLE apis ADD COLUMN signing_alg TEXT
    CHECK (signing_alg IN ('ES256', 'RS256', 'EdDSA'));
