DROP TABLE client_assertion_jtis;
DROP TABLE client_keys;
