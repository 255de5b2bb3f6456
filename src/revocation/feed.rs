//! Following the revocation feed, so that no cached decision outlives a revocation made by
//! another instance or the CLI — and so that the revoker can know it (`store::revocations`
//! holds the protocol and its timing).
//!
//! A [`Follower`] runs two threads per instance:
//! - the *round* thread reads the feed on a connection of its own (never behind requests for
//!   a pooled one), drops every cached decision when the feed moved, and acknowledges the read;
//!   it does so every [`POLL_EVERY`] (the heartbeat) and whenever woken;
//! - the *waker* thread wakes it when something may have been revoked: on PostgreSQL a
//!   `LISTEN` connection (push; a revoker's `NOTIFY` arrives within a round trip), on SQLite
//!   `PRAGMA data_version` read every [`SQLITE_WATCH_EVERY`] on a connection of its own (it
//!   changes when another connection commits, and costs no I/O). Without the waker (a `LISTEN`
//!   that cannot connect, e.g. a server that requires TLS) the heartbeat alone still works, and
//!   a revoke then waits up to a poll interval.
//!
//! Cached decisions are served only while the feed is *followed* (see [`RevocationFeed`]);
//! otherwise every decision is asked of the store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::store::revocations::{
    self, FOLLOWED_FOR, GAP_BOUND, POLL_EVERY, ROUND_BOUND, sqlite_data_version,
};
use crate::store::{Db, DbConn, StoreError};

/// How often an instance on SQLite looks at `PRAGMA data_version`.
pub(crate) const SQLITE_WATCH_EVERY: Duration = Duration::from_millis(10);

/// What an instance knows of its following of the feed.
struct RevocationFeed {
    origin: Instant,
    /// Milliseconds after `origin` until which cached decisions may be served; 0: not now.
    followed_until_ms: AtomicU64,
    /// Milliseconds after `origin` at which the last successful read started (0: none yet).
    last_read_ms: AtomicU64,
    rounds: Mutex<RoundLog>,
}

#[derive(Default)]
struct RoundLog {
    position: Option<(i64, i64)>,
    /// When the last counted round ended, if the one before it counted too or it is the
    /// first of a new pair.
    last_end: Option<Instant>,
}

impl Default for RevocationFeed {
    fn default() -> Self {
        RevocationFeed {
            origin: Instant::now(),
            followed_until_ms: AtomicU64::new(0),
            last_read_ms: AtomicU64::new(0),
            rounds: Mutex::new(RoundLog::default()),
        }
    }
}

impl RevocationFeed {
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether cached decisions may be served now.
    fn is_followed(&self) -> bool {
        self.ms(Instant::now()) < self.followed_until_ms.load(Ordering::Acquire)
    }

    fn rounds(&self) -> std::sync::MutexGuard<'_, RoundLog> {
        match self.rounds.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records a read's position; true when it moved since the previous read (or this is the
    /// first), meaning cached decisions may be stale.
    fn observe(&self, position: (i64, i64)) -> bool {
        let mut rounds = self.rounds();
        let moved = rounds.position != Some(position);
        rounds.position = Some(position);
        moved
    }

    /// An acknowledged round ran from `started` to `ended`. It extends the following only if
    /// it was quick and came soon after another such round (the conditions under which a
    /// revoker may stop waiting for an instance that went quiet; see `store::revocations`).
    fn counted(&self, started: Instant, ended: Instant) {
        let mut rounds = self.rounds();
        if ended.saturating_duration_since(started) > ROUND_BOUND {
            rounds.last_end = None;
            return;
        }
        if rounds
            .last_end
            .is_some_and(|end| started.saturating_duration_since(end) <= GAP_BOUND)
        {
            let until = self.ms(started + FOLLOWED_FOR);
            self.followed_until_ms.fetch_max(until, Ordering::AcqRel);
        }
        rounds.last_end = Some(ended);
    }

    /// A read that started at `started` succeeded.
    fn read(&self, started: Instant) {
        self.last_read_ms
            .fetch_max(self.ms(started), Ordering::AcqRel);
    }

    /// A round failed: the next two must succeed before cached decisions are served again
    /// (those served meanwhile end with the current following).
    fn failed(&self) {
        self.rounds().last_end = None;
    }
}

/// The revocation epoch shared by every in-memory cache of this process: bumped by a
/// revocation made here and whenever the feed moves. A cache entry made under an older epoch
/// is never served.
#[derive(Default)]
pub(crate) struct Epoch {
    generation: AtomicU64,
    feed: RevocationFeed,
}

impl Epoch {
    pub(crate) fn current(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something that may end a token changed: nothing cached before now may be served.
    pub(crate) fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// An epoch whose feed counts as followed (for a while), for tests of the caches.
    #[cfg(test)]
    pub(crate) fn followed() -> Epoch {
        let epoch = Epoch::default();
        let now = Instant::now();
        epoch.feed.counted(now, now);
        epoch.feed.counted(now, now);
        epoch
    }

    /// How far behind the feed this instance may be: the time since its last successful read
    /// started (since start-up before the first). A revocation made elsewhere is seen by the
    /// next read, so this bounds how late; normally below [`POLL_EVERY`], it grows without
    /// bound while the feed cannot be read (when cached decisions are not served either).
    pub(crate) fn feed_lag(&self) -> Duration {
        let now = self.feed.ms(Instant::now());
        let last = self.feed.last_read_ms.load(Ordering::Acquire);
        Duration::from_millis(now.saturating_sub(last))
    }

    /// How old a cache entry may be: `ttl` while the feed is followed, otherwise nothing is
    /// served from memory.
    pub(crate) fn max_age(&self, ttl: Duration) -> Duration {
        if self.feed.is_followed() {
            ttl
        } else {
            Duration::ZERO
        }
    }
}

/// Why the round thread woke.
enum Wake {
    /// A revoker announced a revocation (PostgreSQL `NOTIFY`): acknowledge whatever is read.
    Announced,
    /// Another connection committed something (SQLite): acknowledge if the feed moved.
    Changed,
}

/// This instance's following of the feed; stop it with [`Follower::stop`].
pub(crate) struct Follower {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    db: Db,
    id: String,
}

impl Follower {
    /// Registers this instance (on its first round) and starts following.
    pub(crate) fn start(epoch: Arc<Epoch>, db: Db) -> std::io::Result<Follower> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, woken) = mpsc::channel();
        let mut threads = Vec::new();
        let rounds = RoundThread {
            epoch,
            db: db.clone(),
            id: id.clone(),
            stop: stop.clone(),
        };
        threads.push(
            std::thread::Builder::new()
                .name("tessera-feed".into())
                .spawn(move || rounds.run(woken))?,
        );
        let (db2, stop2) = (db.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("tessera-feed-waker".into())
                .spawn(move || match db2.postgres_url() {
                    Some(url) => listen(url, &stop2, &wake),
                    None => watch_sqlite(&db2, &stop2, &wake),
                })?,
        );
        Ok(Follower {
            stop,
            threads,
            db,
            id,
        })
    }

    /// Stops both threads and deregisters, so that revokes stop waiting for this instance.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
        let id = self.id;
        if let Err(e) = self
            .db
            .run_sync(|conn| crate::store::write(conn, move |c| revocations::deregister(c, &id)))
        {
            tracing::warn!(cause = %e, "could not deregister from the revocation feed");
        }
    }
}

/// The round thread.
struct RoundThread {
    epoch: Arc<Epoch>,
    db: Db,
    id: String,
    stop: Arc<AtomicBool>,
}

impl RoundThread {
    fn run(self, woken: Receiver<Wake>) {
        let mut conn: Option<DbConn> = None;
        let mut next_heartbeat = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let wait = next_heartbeat.saturating_duration_since(Instant::now());
            let acknowledge_always = match woken.recv_timeout(wait) {
                Ok(first) => {
                    let mut announced = matches!(first, Wake::Announced);
                    while let Ok(more) = woken.try_recv() {
                        announced |= matches!(more, Wake::Announced);
                    }
                    announced || Instant::now() >= next_heartbeat
                }
                Err(RecvTimeoutError::Timeout) => true,
                // The waker ended (stopping, or it gave up): heartbeats alone.
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(wait);
                    true
                }
            };
            if acknowledge_always {
                next_heartbeat = Instant::now() + POLL_EVERY;
            }
            if let Err(e) = self.round(&mut conn, acknowledge_always) {
                self.epoch.feed.failed();
                conn = None;
                tracing::warn!(cause = %e, "the revocation feed cannot be read; cached decisions are not served");
            }
        }
    }

    /// Reads the feed, drops cached decisions if it moved, and acknowledges the read (always,
    /// or only when it moved).
    fn round(&self, conn: &mut Option<DbConn>, acknowledge_always: bool) -> Result<(), StoreError> {
        let conn = match conn {
            Some(c) => c,
            None => conn.insert(self.db.dedicated()?),
        };
        let started = Instant::now();
        let acknowledged = self.db.run_on(conn, |conn| -> Result<bool, StoreError> {
            let read = revocations::read(conn)?;
            let moved = self.epoch.feed.observe(read.position);
            if moved {
                self.epoch.bump();
            }
            if !(moved || acknowledge_always) {
                return Ok(false);
            }
            let id = self.id.clone();
            crate::store::write(conn, move |c| revocations::acknowledge(c, &id, &read))?;
            Ok(true)
        })?;
        self.epoch.feed.read(started);
        if acknowledged {
            self.epoch.feed.counted(started, Instant::now());
        }
        Ok(())
    }
}

/// PostgreSQL: waits on a `LISTEN` connection and wakes a round per notification.
fn listen(url: &str, stop: &AtomicBool, wake: &Sender<Wake>) {
    use postgres::fallible_iterator::FallibleIterator;
    let mut backoff = POLL_EVERY;
    while !stop.load(Ordering::Acquire) {
        let listening = postgres::Client::connect(url, postgres::NoTls).and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {}", revocations::CHANNEL))?;
            Ok(client)
        });
        let mut client = match listening {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(cause = %e, "revocation feed: LISTEN unavailable, reading it every {POLL_EVERY:?} instead");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        backoff = POLL_EVERY;
        // Whatever was announced while not listening is read now.
        if wake.send(Wake::Announced).is_err() {
            return;
        }
        while !stop.load(Ordering::Acquire) {
            match client.notifications().timeout_iter(POLL_EVERY).next() {
                Ok(Some(_)) => {
                    if wake.send(Wake::Announced).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(cause = %e, "revocation feed: the LISTEN connection failed");
                    break;
                }
            }
        }
    }
}

/// SQLite: wakes a round whenever another connection has committed.
fn watch_sqlite(db: &Db, stop: &AtomicBool, wake: &Sender<Wake>) {
    let mut conn = None;
    let mut last = None;
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(SQLITE_WATCH_EVERY);
        let c = match &mut conn {
            Some(c) => c,
            None => match db.dedicated() {
                Ok(c) => conn.insert(c),
                Err(_) => continue,
            },
        };
        match sqlite_data_version(c) {
            Ok(version) => {
                if last.is_some() && version != last && wake.send(Wake::Changed).is_err() {
                    return;
                }
                last = version;
            }
            Err(_) => conn = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movement() {
        let feed = RevocationFeed::default();
        assert!(feed.observe((0, 0)));
        assert!(!feed.observe((0, 0)));
        assert!(feed.observe((1, 5)));
        // A row with a lower id committing late changes the count, not the maximum.
        assert!(feed.observe((2, 5)));
    }

    #[test]
    fn lag_is_the_age_of_the_last_successful_read() {
        let epoch = Epoch::default();
        // Before any read: as old as the epoch.
        let before = epoch.feed_lag();
        let t = Instant::now();
        epoch.feed.read(t);
        assert!(epoch.feed_lag() <= t.elapsed() + Duration::from_millis(1));
        // Reads are recorded by when they started; an earlier one does not make it older.
        let origin = epoch.feed.origin;
        epoch.feed.read(origin + Duration::from_secs(10));
        epoch.feed.read(origin + Duration::from_secs(5));
        assert_eq!(epoch.feed.last_read_ms.load(Ordering::Acquire), 10_000);
        assert!(before <= origin.elapsed() + Duration::from_millis(1));
    }

    #[test]
    fn followed_only_after_two_quick_consecutive_rounds() {
        let feed = RevocationFeed::default();
        let t = Instant::now();
        assert!(!feed.is_followed());
        feed.counted(t, t + Duration::from_millis(2));
        assert!(!feed.is_followed(), "one round is not enough");
        feed.counted(t + Duration::from_millis(10), t + Duration::from_millis(12));
        assert!(feed.is_followed());
        // A failure does not end the current following, but the next round alone does not
        // extend it.
        let fresh = RevocationFeed::default();
        fresh.counted(t, t + Duration::from_millis(1));
        fresh.failed();
        fresh.counted(t + Duration::from_millis(5), t + Duration::from_millis(6));
        assert!(!fresh.is_followed());
        // A slow round does not count, nor does one after too long a gap.
        let slow = RevocationFeed::default();
        slow.counted(t, t + Duration::from_millis(1));
        slow.counted(
            t + Duration::from_millis(2),
            t + ROUND_BOUND + Duration::from_millis(10),
        );
        assert!(!slow.is_followed());
        let gap = RevocationFeed::default();
        gap.counted(t, t + Duration::from_millis(1));
        gap.counted(
            t + GAP_BOUND + Duration::from_millis(50),
            t + GAP_BOUND + Duration::from_millis(51),
        );
        assert!(!gap.is_followed());
    }
}
