-- The revocation feed: one row per change that can end a live token (a grant or access token
-- revoked, an integration rotated, expired, revoked or re-addressed), written in the same
-- transaction as the change. Every instance polls it and drops cached check decisions when it
-- moves, so a revocation made anywhere is honoured everywhere within a poll interval.
CREATE TABLE revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL
);
CREATE INDEX revocations_at ON revocations (at);
