-- A rotated refresh token may be presented again within its client's grace once: the
-- retry's successor is its only sibling (a second retry is reuse).
ALTER TABLE refresh_tokens ADD COLUMN grace_used BOOLEAN NOT NULL DEFAULT FALSE;
