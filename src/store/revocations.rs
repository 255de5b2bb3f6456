//! The revocation feed (see the migration): what changed that can end a live token.

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, max};
use diesel::prelude::*;

use super::schema::revocations;
use super::{DbConn, StoreResult};

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

/// Records a change. Call in the transaction that makes it.
pub fn record(conn: &mut DbConn, kind: Kind, target: &str) -> StoreResult<()> {
    diesel::insert_into(revocations::table)
        .values((
            revocations::at.eq(crate::clock::now()),
            revocations::kind.eq(kind.as_str()),
            revocations::target.eq(target),
        ))
        .execute(conn)?;
    Ok(())
}

/// The feed's position: row count and highest id. Either moving means something changed —
/// the count also catches a row whose id was taken before a higher one but committed after.
pub fn position(conn: &mut DbConn) -> StoreResult<(i64, i64)> {
    let (n, top): (i64, Option<i64>) = revocations::table
        .select((count_star(), max(revocations::id)))
        .get_result(conn)?;
    Ok((n, top.unwrap_or(0)))
}

/// Rows older than `before` have been seen by every instance that polls.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::delete(revocations::table.filter(revocations::at.lt(before))).execute(conn)?)
}
