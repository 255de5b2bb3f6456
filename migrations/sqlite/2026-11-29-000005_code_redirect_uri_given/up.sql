-- Whether the authorization request carried redirect_uri: the token request must then repeat
-- it exactly, and may omit it otherwise (RFC 6749 §4.1.3).
ALTER TABLE authorization_codes ADD COLUMN redirect_uri_given BOOLEAN NOT NULL DEFAULT 1;
