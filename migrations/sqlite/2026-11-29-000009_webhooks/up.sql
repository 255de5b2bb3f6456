-- Webhooks (Standard Webhooks, standardwebhooks.com): endpoints an organization registers,
-- their signing secrets, and a transactional outbox of events with one delivery row per
-- endpoint. An event and its deliveries are written in the same transaction as the change
-- that caused it; delivery workers claim due rows (FOR UPDATE SKIP LOCKED on PostgreSQL) and
-- hold a claim with a lease (locked_until), so a crash mid-send is retried once it lapses.

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Space-separated event types.
    events TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    -- Why it was disabled: by an admin, 410 Gone, or failing for too long.
    disabled_reason TEXT,
    -- Since when every delivery has failed (cleared by a success).
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id);

-- The endpoint's signing secrets (whsec_...): HMAC needs the secret itself, so it is stored as
-- is, and never shown after creation or rotation. After a rotation the old secret keeps
-- signing beside the new one until expires_at.
CREATE TABLE webhook_secrets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
CREATE INDEX webhook_secrets_endpoint ON webhook_secrets (endpoint_id);

-- The outbox: one row per event, its body exactly as it is signed and sent.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_events_org ON webhook_events (org_id, created_at);

-- One row per (event, endpoint): the delivery queue.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- pending, delivered or failed (every attempt of the schedule used).
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A worker's claim: nobody else sends it before then.
    locked_until TIMESTAMP,
    last_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt, for the delivery log.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    response_excerpt TEXT,
    error TEXT,
    next_attempt_at TIMESTAMP
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Expiry notices already published (integration.expiring 7 and 1 days ahead, and
-- integration.expired), so that each goes out once however many instances look.
CREATE TABLE webhook_notices (
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    notice TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (integration_id, notice)
);

INSERT INTO scopes (name, description, min_role, built_in, created_at) VALUES
    ('webhooks:manage', 'Manage the organization''s webhook endpoints and read their deliveries', 'manager', TRUE, CURRENT_TIMESTAMP);
