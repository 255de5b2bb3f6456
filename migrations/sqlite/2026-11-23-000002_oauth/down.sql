DROP TABLE signing_keys;
DROP TABLE revoked_access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE authorization_codes;
DROP TABLE grants;
DROP TABLE consents;
DROP TABLE sessions;
ALTER TABLE clients DROP COLUMN grant_types;
