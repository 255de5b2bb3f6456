-- Plans (issue 11). An organization's plan says which features it has (the matrix is code:
-- `admin/plans.rs`); every existing organization keeps every feature it has today.
ALTER TABLE organizations ADD COLUMN plan TEXT NOT NULL DEFAULT 'enterprise';

-- An operator's per-organization exception to the plan: one feature on (a trial, an add-on) or
-- off, until expires_at if set.
CREATE TABLE plan_overrides (
    org_id BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    feature TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, feature)
);

-- When the session's user last typed their password (sign-in or re-authentication before a
-- secret is shown). NULL: at the session's creation.
ALTER TABLE sessions ADD COLUMN authenticated_at TIMESTAMP;
