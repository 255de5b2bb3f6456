//! The revocation feed, and the acknowledgements that make a revocation synchronous.
//!
//! **The feed.** Every change that can end a live credential (or a cached client) writes a row
//! here in the transaction that makes it ([`record`]). Each `tessera serve` process (an
//! *instance*) follows the feed: a *round* reads its position ([`read`]), drops the instance's
//! cached decisions when it moved, then writes an acknowledgement ([`acknowledge`]) of that
//! read into the instance's row of `instances`: its *mark*, and when the read started
//! (`seen_at`, also the heartbeat).
//!
//! **Synchronous revocation.** A call that recorded a revocation does not return until every
//! live instance has acknowledged a read that includes it ([`settle_recorded`]). After its
//! commit it takes a mark ([`announce`]), then waits until no instance seen within
//! [`LIVE_FOR`] has an acknowledgement short of that mark — at most [`WAIT_AT_MOST`].
//! `Db::run_on` (so every request) and the CLI call it after their work; nobody has to
//! remember to. Marks compare without clocks:
//! - on PostgreSQL, the revoker's mark is its transaction's id (taken by [`record`]), an
//!   instance's is the snapshot its read ran under (`pg_current_snapshot()`, in the same
//!   statement): the read included the revocation exactly when that transaction had ended in
//!   that snapshot (`pg_visible_in_snapshot`). `announce` also sends `NOTIFY` on [`CHANNEL`],
//!   so that instances start a round at once;
//! - on SQLite, a feed id: writers take turns, so ids commit in order, and an instance that
//!   read the revoker's id (the highest after its commit) read the revocation.
//!
//! A call that finds a revocation already made (a second revoke of the same token, racing the
//! first) waits for it too ([`already_recorded`]): its success must mean the same.
//!
//! **Why an instance that stops acknowledging may be skipped.** An instance serves cached
//! decisions only while *followed* (`revocation::feed`): its last two acknowledged rounds each
//! took at most [`ROUND_BOUND`], the second started at most [`GAP_BOUND`] after the first
//! ended, and it is less than [`FOLLOWED_FOR`] since the second started. So an instance not
//! seen for `LIVE_FOR` = `ROUND_BOUND + GAP_BOUND + FOLLOWED_FOR` + margin stopped serving
//! cached decisions before the revoker stops waiting for it, and any round it makes later
//! reads the revocation. A slow instance costs a revoke at most `WAIT_AT_MOST`; a stopped one
//! deregisters ([`deregister`]) and costs nothing. `seen_at` is on the database clock on
//! PostgreSQL and on the host's on SQLite, whose processes share a host.

use std::cell::Cell;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, max};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::{instances, revocations};
use super::{DbConn, StoreResult};

/// How often an instance reads the feed without being told to (its heartbeat).
pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// The longest a round (read, act, acknowledge) may take and still count.
pub const ROUND_BOUND: Duration = Duration::from_millis(250);
/// The longest gap between two rounds that still count as consecutive.
pub const GAP_BOUND: Duration = Duration::from_millis(400);
/// How long after the start of its last counted round an instance serves cached decisions.
pub const FOLLOWED_FOR: Duration = Duration::from_millis(750);
/// An instance whose last acknowledgement is older than this has stopped serving cached
/// decisions (see the module doc); a revoke does not wait for it.
pub const LIVE_FOR: Duration = Duration::from_millis(1750);
/// The longest a revoke waits for acknowledgements.
pub const WAIT_AT_MOST: Duration = Duration::from_secs(2);
/// The PostgreSQL `LISTEN`/`NOTIFY` channel that wakes instances' rounds.
pub const CHANNEL: &str = "tessera_revocations";

const _: () = assert!(
    ROUND_BOUND.as_millis() + GAP_BOUND.as_millis() + FOLLOWED_FOR.as_millis()
        < LIVE_FOR.as_millis()
        && LIVE_FOR.as_millis() < WAIT_AT_MOST.as_millis()
);

thread_local! {
    /// Set by [`record`] on the thread whose work recorded a revocation — to the highest
    /// PostgreSQL transaction id that did (0 on SQLite) —; taken by [`settle_recorded`] once
    /// that work has committed.
    static RECORDED: Cell<Option<i64>> = const { Cell::new(None) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Grant,
    AccessToken,
    Integration,
    /// A client registered or its secrets changed (cached clients must be re-read).
    Client,
    /// Old rows left the feed: its position moves all the same, so that a row committing late
    /// cannot be hidden by a deletion (count and highest id both unchanged).
    Purge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Grant => "grant",
            Kind::AccessToken => "access_token",
            Kind::Integration => "integration",
            Kind::Client => "client",
            Kind::Purge => "purge",
        }
    }
}

/// Records a change. Call in the transaction that makes it; the `Db::run_on` (or CLI
/// command) around it then waits for every live instance once it has committed.
pub fn record(conn: &mut DbConn, kind: Kind, target: &str) -> StoreResult<()> {
    let now = crate::clock::now();
    if let DbConn::Postgresql(pg) = conn {
        let xid: Micros = diesel::sql_query(
            "INSERT INTO revocations (at, kind, target) VALUES ($1, $2, $3) \
             RETURNING pg_current_xact_id()::text::bigint AS t",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::Text, _>(kind.as_str())
        .bind::<diesel::sql_types::Text, _>(target)
        .get_result(pg)?;
        mark(xid.t);
        return Ok(());
    }
    diesel::insert_into(revocations::table)
        .values((
            revocations::at.eq(now),
            revocations::kind.eq(kind.as_str()),
            revocations::target.eq(target),
        ))
        .execute(conn)?;
    mark(0);
    Ok(())
}

/// The work in progress found that a revocation it was asked for had already been made (by a
/// call that may still be waiting for the instances): it waits for the instances as if it
/// had made it. Call in the transaction that found it.
pub fn already_recorded(conn: &mut DbConn) -> StoreResult<()> {
    if let DbConn::Postgresql(pg) = conn {
        // This transaction read the other's change, so it ended before this one does: a
        // snapshot in which this one has ended includes it.
        let xid: Micros =
            diesel::sql_query("SELECT pg_current_xact_id()::text::bigint AS t").get_result(pg)?;
        mark(xid.t);
        return Ok(());
    }
    mark(0);
    Ok(())
}

fn mark(xid: i64) {
    RECORDED.with(|r| r.set(Some(r.get().map_or(xid, |m| m.max(xid)))));
}

/// Marks this thread's work as having recorded a revocation (the SQLite group writer carries
/// the mark from its thread to the caller's).
pub fn mark_recorded() {
    mark(0);
}

/// Takes this thread's mark: whether its work since the last call recorded a revocation.
pub fn take_recorded() -> bool {
    RECORDED.with(|r| r.take()).is_some()
}

/// Whether this thread's work recorded a revocation not yet settled.
pub fn recorded_pending() -> bool {
    RECORDED.with(|r| r.get()).is_some()
}

/// One read of the feed: its position (row count and highest id — the count also catches a
/// row whose id was taken before a higher one but committed after), when it started (µs since
/// the Unix epoch: the database's clock on PostgreSQL, the host's on SQLite; the heartbeat),
/// and the mark an acknowledgement of it carries (see the module doc): the read's snapshot on
/// PostgreSQL, the highest id read on SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRead {
    pub position: (i64, i64),
    pub at: i64,
    pub mark: String,
}

#[derive(QueryableByName)]
struct PgFeedRead {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    top: i64,
    #[diesel(sql_type = BigInt)]
    at: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    snapshot: String,
}

#[derive(QueryableByName)]
struct Micros {
    #[diesel(sql_type = BigInt)]
    t: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The host clock in µs since the Unix epoch.
fn host_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// PostgreSQL's clock in µs since the Unix epoch, as SQL.
const PG_MICROS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT";

/// Reads the feed. On PostgreSQL one statement, whose `pg_current_snapshot()` is the very
/// snapshot the count and maximum were read under.
pub fn read(conn: &mut DbConn) -> StoreResult<FeedRead> {
    if let DbConn::Postgresql(pg) = conn {
        let r: PgFeedRead = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n, COALESCE(MAX(id), 0)::BIGINT AS top, {PG_MICROS} AS at, \
             pg_current_snapshot()::text AS snapshot FROM revocations"
        ))
        .get_result(pg)?;
        return Ok(FeedRead {
            position: (r.n, r.top),
            at: r.at,
            mark: r.snapshot,
        });
    }
    let at = host_micros();
    let (n, top): (i64, Option<i64>) = revocations::table
        .select((count_star(), max(revocations::id)))
        .get_result(conn)?;
    let top = top.unwrap_or(0);
    Ok(FeedRead {
        position: (n, top),
        at,
        mark: top.to_string(),
    })
}

/// Called after the work that recorded a revocation committed, with the mark [`record`] took:
/// what every live instance's acknowledgement must include ([`lagging`]). On PostgreSQL, that
/// transaction id, and the instances are woken (`NOTIFY`); on SQLite, the highest feed id,
/// which includes the revocation's own row.
pub fn announce(conn: &mut DbConn, xid: i64) -> StoreResult<i64> {
    if let DbConn::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT pg_notify('{CHANNEL}', '')")).execute(pg)?;
        return Ok(xid);
    }
    let top: Option<i64> = revocations::table
        .select(max(revocations::id))
        .get_result(conn)?;
    Ok(top.unwrap_or(0))
}

/// The instance `id` acted on `read`: its acknowledgement and heartbeat. Registers the
/// instance when its row is missing (first round, or purged).
pub fn acknowledge(conn: &mut DbConn, id: &str, read: &FeedRead) -> StoreResult<()> {
    let n = diesel::update(instances::table.find(id))
        .set((
            instances::acked.eq(&read.mark),
            instances::seen_at.eq(read.at),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(instances::table)
            .values((
                instances::id.eq(id),
                instances::started_at.eq(crate::clock::now()),
                instances::acked.eq(&read.mark),
                instances::seen_at.eq(read.at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A stopping instance leaves, so that revokes stop waiting for it at once.
pub fn deregister(conn: &mut DbConn, id: &str) -> StoreResult<()> {
    diesel::delete(instances::table.find(id)).execute(conn)?;
    Ok(())
}

/// How many live instances (seen within [`LIVE_FOR`]) have not yet acknowledged a read that
/// includes what [`announce`] marked `through`.
pub fn lagging(conn: &mut DbConn, through: i64) -> StoreResult<i64> {
    let live = i64::try_from(LIVE_FOR.as_micros()).unwrap_or(i64::MAX);
    let c: Count = match conn {
        DbConn::Postgresql(pg) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM instances \
             WHERE NOT pg_visible_in_snapshot(($1)::text::xid8, acked::pg_snapshot) \
             AND seen_at > {PG_MICROS} - $2"
        ))
        .bind::<BigInt, _>(through)
        .bind::<BigInt, _>(live)
        .get_result(pg)?,
        DbConn::Sqlite(lite) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM instances WHERE CAST(acked AS INTEGER) < ? AND seen_at > ?",
        )
        .bind::<BigInt, _>(through)
        .bind::<BigInt, _>(host_micros() - live)
        .get_result(lite)?,
    };
    Ok(c.n)
}

/// What waiting for acknowledgements came to.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    pub waited: Duration,
    /// Live instances still behind when [`WAIT_AT_MOST`] ran out (0: all acknowledged).
    pub lagging: i64,
}

/// If this thread's work recorded a revocation (and has committed), announces it and waits
/// until every live instance has acknowledged it, at most [`WAIT_AT_MOST`]. Polls with short,
/// growing pauses (1 ms to 10 ms): on one host an acknowledgement takes a few milliseconds.
///
/// If the database stops answering meanwhile, it still waits out `WAIT_AT_MOST` before
/// returning the error: by then every instance has read the feed since, or stopped serving
/// cached decisions.
pub fn settle_recorded(conn: &mut DbConn) -> StoreResult<Option<Settled>> {
    let Some(xid) = RECORDED.with(|r| r.take()) else {
        return Ok(None);
    };
    let started = Instant::now();
    let waited = wait_for_instances(conn, xid, started);
    if waited.is_err() {
        std::thread::sleep(WAIT_AT_MOST.saturating_sub(started.elapsed()));
    }
    waited.map(Some)
}

fn wait_for_instances(conn: &mut DbConn, xid: i64, started: Instant) -> StoreResult<Settled> {
    let through = announce(conn, xid)?;
    let mut pause = Duration::from_millis(1);
    loop {
        let behind = lagging(conn, through)?;
        if behind == 0 || started.elapsed() >= WAIT_AT_MOST {
            let settled = Settled {
                waited: started.elapsed(),
                lagging: behind,
            };
            if behind > 0 {
                tracing::warn!(
                    instances = behind,
                    waited_us = u64::try_from(settled.waited.as_micros()).unwrap_or(u64::MAX),
                    "revocation: instances did not acknowledge in time (they serve no cached decisions)"
                );
            } else {
                tracing::debug!(
                    waited_us = u64::try_from(settled.waited.as_micros()).unwrap_or(u64::MAX),
                    "revocation acknowledged by every live instance"
                );
            }
            return Ok(settled);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Rows older than `before` have been seen by every live instance; instances silent since
/// `instances_before` are gone.
pub fn purge(
    conn: &mut DbConn,
    before: NaiveDateTime,
    instances_before: NaiveDateTime,
) -> StoreResult<usize> {
    let gone = instances_before.and_utc().timestamp_micros();
    diesel::delete(instances::table.filter(instances::seen_at.lt(gone))).execute(conn)?;
    let n = diesel::delete(revocations::table.filter(revocations::at.lt(before))).execute(conn)?;
    if n > 0 {
        record(conn, Kind::Purge, "")?;
    }
    Ok(n)
}

/// SQLite's `PRAGMA data_version`: changes when another connection commits — a cheap way for
/// an instance to notice a revocation made by another process without reading the feed.
pub fn sqlite_data_version(conn: &mut DbConn) -> StoreResult<Option<i64>> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = BigInt)]
        data_version: i64,
    }
    match conn {
        DbConn::Sqlite(lite) => {
            let v: Version = diesel::sql_query("PRAGMA data_version").get_result(lite)?;
            Ok(Some(v.data_version))
        }
        DbConn::Postgresql(_) => Ok(None),
    }
}
