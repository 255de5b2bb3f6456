-- Each running `tessera serve` process: the revocation feed's followers. A revoke waits until
-- every live instance has read the feed after the revoke committed (store/revocations.rs).
-- acked_at: microseconds since the Unix epoch on the feed's clock (the database server's
-- clock on PostgreSQL, the host's on SQLite) at the start of the instance's last feed read
-- it has acted on; it is also the instance's heartbeat.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    acked_at BIGINT NOT NULL
);
