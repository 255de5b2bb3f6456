//! The revocation feed, and the acknowledgements that make a revocation synchronous.
//!
//! **The feed.** Every change that can end a live credential (or a cached client) writes a row
//! here in the transaction that makes it ([`record`]). Each `tessera serve` process (an
//! *instance*) follows the feed: a *round* reads its position ([`read`]), drops the instance's
//! cached decisions when it moved, then writes an acknowledgement ([`acknowledge`]) — the
//! feed-clock time at which that read started — into the instance's row of `instances`.
//!
//! **Synchronous revocation.** A call that recorded a revocation does not return until every
//! live instance has acknowledged a read that started after the revocation committed
//! ([`settle_recorded`]): it takes the feed clock after its commit ([`announce`], which on
//! PostgreSQL also sends `NOTIFY` on [`CHANNEL`] so that instances start a round at once),
//! then waits until no instance that acknowledged within [`LIVE_FOR`] has an acknowledgement
//! at or before that time — at most [`WAIT_AT_MOST`]. `Db::run_sync` (so every request) and
//! the CLI call it after their work; nobody has to remember to.
//!
//! **Why an instance that stops acknowledging may be skipped.** An instance serves cached
//! decisions only while *followed* (`revocation::feed`): its last two acknowledged rounds each
//! took at most [`ROUND_BOUND`], the second started at most [`GAP_BOUND`] after the first
//! ended, and it is less than [`FOLLOWED_FOR`] since the second started. So an instance whose
//! last acknowledgement is older than `LIVE_FOR` = `ROUND_BOUND + GAP_BOUND + FOLLOWED_FOR` +
//! margin stopped serving cached decisions before the revoker stops waiting for it, and any
//! round it makes later reads the revocation. A slow instance costs a revoke at most
//! `WAIT_AT_MOST`; a stopped one deregisters ([`deregister`]) and costs nothing.
//!
//! The feed clock is the database server's (`clock_timestamp()`) on PostgreSQL, so instances
//! on several hosts compare times on one clock; on SQLite, whose processes share a host, it is
//! the host's.

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
    /// Set by [`record`] on the thread whose work recorded a revocation; taken by
    /// [`settle_recorded`] once that work has committed.
    static RECORDED: Cell<bool> = const { Cell::new(false) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Grant,
    AccessToken,
    Integration,
    /// A client registered or its secrets changed (cached clients must be re-read).
    Client,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Grant => "grant",
            Kind::AccessToken => "access_token",
            Kind::Integration => "integration",
            Kind::Client => "client",
        }
    }
}

/// Records a change. Call in the transaction that makes it; the `Db::run_sync` (or CLI
/// command) around it then waits for every live instance once it has committed.
pub fn record(conn: &mut DbConn, kind: Kind, target: &str) -> StoreResult<()> {
    diesel::insert_into(revocations::table)
        .values((
            revocations::at.eq(crate::clock::now()),
            revocations::kind.eq(kind.as_str()),
            revocations::target.eq(target),
        ))
        .execute(conn)?;
    mark_recorded();
    Ok(())
}

/// Marks this thread's work as having recorded a revocation (the group writer carries the
/// mark from its thread to the caller's).
pub fn mark_recorded() {
    RECORDED.with(|r| r.set(true));
}

/// Takes this thread's mark: whether its work since the last call recorded a revocation.
pub fn take_recorded() -> bool {
    RECORDED.with(|r| r.replace(false))
}

/// Whether this thread's work recorded a revocation not yet settled.
pub fn recorded_pending() -> bool {
    RECORDED.with(|r| r.get())
}

/// One read of the feed: its position (row count and highest id — the count also catches a
/// row whose id was taken before a higher one but committed after) and the feed-clock time
/// (µs since the Unix epoch) at or before which the read's snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRead {
    pub position: (i64, i64),
    pub at: i64,
}

#[derive(QueryableByName)]
struct PgFeedRead {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    top: i64,
    #[diesel(sql_type = BigInt)]
    at: i64,
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

/// The host clock in µs since the Unix epoch (SQLite's feed clock).
fn host_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// PostgreSQL's clock in µs since the Unix epoch, as SQL.
const PG_MICROS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT";

/// Reads the feed. On PostgreSQL one statement: `statement_timestamp()` is taken when the
/// statement arrives, before its snapshot (READ COMMITTED takes one per statement).
pub fn read(conn: &mut DbConn) -> StoreResult<FeedRead> {
    if let DbConn::Postgresql(pg) = conn {
        let r: PgFeedRead = diesel::sql_query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(id), 0)::BIGINT AS top, \
             (EXTRACT(EPOCH FROM statement_timestamp()) * 1000000)::BIGINT AS at \
             FROM revocations",
        )
        .get_result(pg)?;
        return Ok(FeedRead {
            position: (r.n, r.top),
            at: r.at,
        });
    }
    // SQLite: an autocommit read starts its snapshot when it runs, after this clock reading.
    let at = host_micros();
    let (n, top): (i64, Option<i64>) = revocations::table
        .select((count_star(), max(revocations::id)))
        .get_result(conn)?;
    Ok(FeedRead {
        position: (n, top.unwrap_or(0)),
        at,
    })
}

/// Called after the transaction that recorded a revocation committed: the feed-clock time
/// now, which every live instance's acknowledgement must pass. On PostgreSQL it also wakes the
/// instances (`NOTIFY`, delivered when this statement commits, so after the time it returns).
pub fn announce(conn: &mut DbConn) -> StoreResult<i64> {
    if let DbConn::Postgresql(pg) = conn {
        let m: Micros = diesel::sql_query(format!(
            "SELECT {PG_MICROS} AS t, pg_notify('{CHANNEL}', '') IS NULL AS _n"
        ))
        .get_result(pg)?;
        return Ok(m.t);
    }
    Ok(host_micros())
}

/// The instance `id` read the feed at `at` and acted on what it read. Registers the instance
/// when its row is missing (first round, or purged).
pub fn acknowledge(conn: &mut DbConn, id: &str, at: i64) -> StoreResult<()> {
    let n = diesel::update(instances::table.find(id))
        .set(instances::acked_at.eq(at))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(instances::table)
            .values((
                instances::id.eq(id),
                instances::started_at.eq(crate::clock::now()),
                instances::acked_at.eq(at),
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

/// How many live instances (acknowledged within [`LIVE_FOR`]) have not yet acknowledged a
/// read that started after `through`.
pub fn lagging(conn: &mut DbConn, through: i64) -> StoreResult<i64> {
    let live = i64::try_from(LIVE_FOR.as_micros()).unwrap_or(i64::MAX);
    let c: Count = match conn {
        DbConn::Postgresql(pg) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM instances WHERE acked_at <= $1 AND acked_at > {PG_MICROS} - $2"
        ))
        .bind::<BigInt, _>(through)
        .bind::<BigInt, _>(live)
        .get_result(pg)?,
        DbConn::Sqlite(lite) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM instances WHERE acked_at <= ? AND acked_at > ?",
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
pub fn settle_recorded(conn: &mut DbConn) -> StoreResult<Option<Settled>> {
    if !take_recorded() {
        return Ok(None);
    }
    let started = Instant::now();
    let through = announce(conn)?;
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
                    "revocation: instances did not acknowledge in time (they serve no cached decisions)"
                );
            } else {
                tracing::debug!(waited = ?settled.waited, "revocation acknowledged by every live instance");
            }
            return Ok(Some(settled));
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
    diesel::delete(instances::table.filter(instances::acked_at.lt(gone))).execute(conn)?;
    Ok(diesel::delete(revocations::table.filter(revocations::at.lt(before))).execute(conn)?)
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
