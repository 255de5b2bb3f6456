//! Consecutive refused sign-ins per username, shared by every instance on the database: the
//! account half of brute-force protection (NIST SP 800-63B §5.2.2). The policy — how long to
//! wait, when to lock — is `oauth::login`'s; this keeps the counts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::sign_in_failures;
use super::{DbConn, StoreResult};

/// One username's refused attempts since its last successful sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = sign_in_failures)]
pub struct Failures {
    pub failures: i32,
    pub last_failure_at: NaiveDateTime,
    /// Attempts before this are refused without checking the password.
    pub blocked_until: Option<NaiveDateTime>,
    /// The lockout's end: attempts before it are refused, right password or not.
    pub locked_until: Option<NaiveDateTime>,
}

impl Failures {
    /// Whether an attempt at `now` is refused unchecked: the wait left, and whether it is a
    /// lockout.
    pub fn refuses_at(&self, now: NaiveDateTime) -> Option<(chrono::TimeDelta, bool)> {
        if let Some(until) = self.locked_until.filter(|u| *u > now) {
            return Some((until - now, true));
        }
        self.blocked_until
            .filter(|u| *u > now)
            .map(|until| (until - now, false))
    }
}

/// The username's counts, if it has refused attempts.
pub fn find(conn: &mut DbConn, username: &str) -> StoreResult<Option<Failures>> {
    sign_in_failures::table
        .find(username)
        .select(Failures::as_select())
        .get_result(conn)
        .optional()
        .map_err(Into::into)
}

/// Counts one more refused attempt at `now` and returns the counts after it. Call inside a
/// write transaction that first took the username's lock (`lock_entity("sign_in", …)`), so
/// that concurrent failures on PostgreSQL are each counted.
pub fn count(conn: &mut DbConn, username: &str, now: NaiveDateTime) -> StoreResult<Failures> {
    let updated = diesel::update(sign_in_failures::table.find(username))
        .set((
            sign_in_failures::failures.eq(sign_in_failures::failures + 1),
            sign_in_failures::last_failure_at.eq(now),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(sign_in_failures::table)
            .values((
                sign_in_failures::username.eq(username),
                sign_in_failures::failures.eq(1),
                sign_in_failures::last_failure_at.eq(now),
            ))
            .execute(conn)?;
    }
    sign_in_failures::table
        .find(username)
        .select(Failures::as_select())
        .get_result(conn)
        .map_err(Into::into)
}

/// Sets the wait and the lockout (`None` leaves the lockout as it is).
pub fn restrict(
    conn: &mut DbConn,
    username: &str,
    blocked_until: Option<NaiveDateTime>,
    locked_until: Option<NaiveDateTime>,
) -> StoreResult<()> {
    let row = sign_in_failures::table.find(username);
    match locked_until {
        Some(locked) => diesel::update(row)
            .set((
                sign_in_failures::blocked_until.eq(blocked_until),
                sign_in_failures::locked_until.eq(locked),
            ))
            .execute(conn)?,
        None => diesel::update(row)
            .set(sign_in_failures::blocked_until.eq(blocked_until))
            .execute(conn)?,
    };
    Ok(())
}

/// Forgets the username's failures (a successful sign-in, or an operator's unlock); returns
/// the counts it had.
pub fn clear(conn: &mut DbConn, username: &str) -> StoreResult<Option<Failures>> {
    let before = find(conn, username)?;
    if before.is_some() {
        diesel::delete(sign_in_failures::table.find(username)).execute(conn)?;
    }
    Ok(before)
}

/// Forgets failures older than `before` that hold no lockout still in force at `now`.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime, now: NaiveDateTime) -> StoreResult<usize> {
    diesel::delete(
        sign_in_failures::table
            .filter(sign_in_failures::last_failure_at.lt(before))
            .filter(
                sign_in_failures::locked_until
                    .is_null()
                    .or(sign_in_failures::locked_until.le(now)),
            ),
    )
    .execute(conn)
    .map_err(Into::into)
}
