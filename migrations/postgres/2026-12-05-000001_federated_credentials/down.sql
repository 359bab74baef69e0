DROP TABLE federated_credentials;
DROP TABLE trusted_issuers;
