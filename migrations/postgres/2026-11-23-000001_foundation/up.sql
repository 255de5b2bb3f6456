-- Foundation: organizations, people, scopes, OAuth clients and the audit trail.
-- Kept column-for-column identical to migrations/sqlite; only the type spellings differ.

CREATE TABLE organizations (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    -- argon2id PHC string; never a plaintext password.
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'member')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX memberships_org ON memberships (org_id);

CREATE TABLE scopes (
    name TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL,
    min_role TEXT NOT NULL CHECK (min_role IN ('owner', 'admin', 'manager', 'member')),
    built_in BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);

INSERT INTO scopes (name, description, min_role, built_in, created_at) VALUES
    ('integrations:manage', 'Create, rotate, expire and revoke the organization''s integration tokens', 'admin', TRUE, (now() AT TIME ZONE 'UTC')),
    ('clients:manage', 'Register and manage the organization''s OAuth clients', 'admin', TRUE, (now() AT TIME ZONE 'UTC')),
    ('audit:read', 'Read the organization''s audit log', 'admin', TRUE, (now() AT TIME ZONE 'UTC'));

CREATE TABLE clients (
    id BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('confidential', 'public')),
    -- Newline-separated; matched by exact string.
    redirect_uris TEXT NOT NULL,
    -- Space-separated scope names the client may ask for.
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX clients_org ON clients (org_id);

-- A client has one secret, or two while a rotation's grace period runs.
CREATE TABLE client_secrets (
    id BIGSERIAL PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    secret_hash BYTEA NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
CREATE INDEX client_secrets_client ON client_secrets (client_id);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT REFERENCES organizations (id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    at TIMESTAMP NOT NULL,
    detail TEXT
);
CREATE INDEX audit_events_org_at ON audit_events (org_id, at);
