-- Each running `tessera serve` process: the revocation feed's followers. A revoke waits until
-- every live instance has read the feed after the revoke committed (store/revocations.rs).
-- acked: the feed mark of the last read the instance acted on — on PostgreSQL that read's
-- snapshot (pg_current_snapshot(), as text); on SQLite the highest feed id it
-- read (ids commit in order there). seen_at: when that read started (µs since the Unix epoch,
-- the database's clock on PostgreSQL, the host's on SQLite) — the instance's heartbeat.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    acked TEXT NOT NULL,
    seen_at BIGINT NOT NULL
);
