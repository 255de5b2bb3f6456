-- OAuth 2.0: sign-in sessions, remembered consent, authorization codes, grants (token
-- families), refresh tokens, revoked access-token ids and JWT signing keys.
-- Every secret (session id, code, refresh token) is stored only as its SHA-256.

-- Which grants a client may use (RFC 7591 grant_types); refresh is optional per client.
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL DEFAULT 'authorization_code refresh_token';

CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Anti-forgery token for the forms shown to this session.
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE consents (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id, org_id)
);

-- One grant per completed authorization: the family of every refresh and access token that
-- descends from it. Revoking the grant revokes them all (RFC 9700 §4.14).
CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Absolute end of the refresh chain.
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX grants_user_client ON grants (user_id, client_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE authorization_codes (
    id BIGSERIAL PRIMARY KEY,
    code_hash BYTEA NOT NULL UNIQUE,
    client_id BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    -- PKCE challenge as oxide-auth encodes it (challenge + method letter); NULL without PKCE.
    code_challenge TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    consumed_at TIMESTAMP,
    -- Set when the code is exchanged: what a replay of this code revokes.
    grant_id TEXT REFERENCES grants (id) ON DELETE SET NULL
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- Set when this token was exchanged for its successor; presenting it again is reuse.
    rotated_at TIMESTAMP
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

-- Access tokens are JWTs; one revoked by itself (RFC 7009) is listed here until it expires.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    -- PKCS#8 DER of the private key.
    private_key BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Set on rotation; the public key stays in the JWKS until tokens it signed have expired.
    retired_at TIMESTAMP
);
