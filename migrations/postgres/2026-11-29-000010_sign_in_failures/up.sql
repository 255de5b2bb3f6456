-- Consecutive refused sign-ins per username (NIST SP 800-63B §5.2.2), shared by every instance
-- on this database. Keyed by the username as typed (normalised), whether or not such a user
-- exists, so that throttling and lockout tell a guesser nothing about which accounts exist.
-- failures: refused attempts since the last successful sign-in (wrong password, or made while
-- throttled or locked). blocked_until: the progressive delay; attempts before it are refused
-- unchecked. locked_until: the lockout, set when failures reaches the configured limit; ended
-- early by `tessera user unlock`. A successful sign-in deletes the row.
CREATE TABLE sign_in_failures (
    username TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP,
    locked_until TIMESTAMP
);
