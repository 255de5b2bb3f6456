-- Private-integration tokens: long-lived, scoped credentials for server-to-server use.
-- A token's plaintext is never stored: only its SHA-256 (looked up by a unique index), the
-- first 12 characters for display and the last 4.

CREATE TABLE integrations (
    id TEXT PRIMARY KEY NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    env TEXT NOT NULL CHECK (env IN ('live', 'test')),
    -- Space-separated scope names.
    scopes TEXT NOT NULL,
    -- Space-separated CIDRs the tokens may be used from; empty means anywhere.
    allow_ips TEXT NOT NULL DEFAULT '',
    -- When every token of the integration stops working (expire now or later).
    expires_at TIMESTAMP,
    -- Tokens unused for this many seconds stop working.
    inactive_after_secs BIGINT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX integrations_org ON integrations (org_id);

CREATE TABLE integration_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    last4 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Set when a rotation with grace retires this token at a later time (or at once).
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_ip TEXT,
    use_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX integration_tokens_integration ON integration_tokens (integration_id);
