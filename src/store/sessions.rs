//! Sign-in sessions: a random cookie value, stored as its SHA-256.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{sessions, users};
use super::{DbConn, StoreResult};

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    /// Anti-forgery token embedded in the forms this session is shown.
    pub csrf_token: String,
    pub expires_at: NaiveDateTime,
    /// When the user last typed their password in this session: at sign-in, or when asked
    /// again before a secret is shown.
    pub authenticated_at: NaiveDateTime,
}

impl Session {
    pub fn create(
        conn: &mut DbConn,
        hash: &[u8; 32],
        user_id: i64,
        csrf_token: &str,
        expires_at: NaiveDateTime,
    ) -> StoreResult<()> {
        diesel::insert_into(sessions::table)
            .values((
                sessions::token_hash.eq(hash.as_slice()),
                sessions::user_id.eq(user_id),
                sessions::csrf_token.eq(csrf_token),
                sessions::created_at.eq(crate::clock::now()),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The session behind a cookie, if it exists and has not expired.
    pub fn find_live(conn: &mut DbConn, hash: &[u8; 32]) -> StoreResult<Option<Session>> {
        type Row = (
            Vec<u8>,
            i64,
            String,
            String,
            NaiveDateTime,
            NaiveDateTime,
            Option<NaiveDateTime>,
        );
        let row: Option<Row> = sessions::table
            .inner_join(users::table)
            .filter(sessions::token_hash.eq(hash.as_slice()))
            .filter(sessions::expires_at.gt(crate::clock::now()))
            .select((
                sessions::token_hash,
                sessions::user_id,
                users::username,
                sessions::csrf_token,
                sessions::expires_at,
                sessions::created_at,
                sessions::authenticated_at,
            ))
            .get_result(conn)
            .optional()?;
        Ok(row
            .filter(|(stored, ..)| super::digest_matches(hash, stored))
            .map(
                |(_, user_id, username, csrf_token, expires_at, created_at, authenticated_at)| {
                    Session {
                        user_id,
                        username,
                        csrf_token,
                        expires_at,
                        authenticated_at: authenticated_at.unwrap_or(created_at),
                    }
                },
            ))
    }

    /// Gives the session a new anti-forgery token: forms rendered with the old one are refused
    /// from now on.
    pub fn renew_csrf(conn: &mut DbConn, hash: &[u8; 32], csrf_token: &str) -> StoreResult<()> {
        diesel::update(sessions::table.filter(sessions::token_hash.eq(hash.as_slice())))
            .set(sessions::csrf_token.eq(csrf_token))
            .execute(conn)?;
        Ok(())
    }

    /// Records that the session's user has just typed their password again.
    pub fn reauthenticated(conn: &mut DbConn, hash: &[u8; 32]) -> StoreResult<()> {
        diesel::update(sessions::table.filter(sessions::token_hash.eq(hash.as_slice())))
            .set(sessions::authenticated_at.eq(Some(crate::clock::now())))
            .execute(conn)?;
        Ok(())
    }

    /// Ends every session of a user (sign out everywhere; a changed password).
    pub fn delete_for_user(conn: &mut DbConn, user_id: i64) -> StoreResult<usize> {
        Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?)
    }

    /// Ends every session of a user but the one whose hash is `keep` (a password changed in
    /// that session); returns how many ended.
    pub fn delete_others(conn: &mut DbConn, user_id: i64, keep: &[u8; 32]) -> StoreResult<usize> {
        Ok(diesel::delete(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::token_hash.ne(keep.as_slice())),
        )
        .execute(conn)?)
    }

    pub fn delete(conn: &mut DbConn, hash: &[u8; 32]) -> StoreResult<()> {
        diesel::delete(sessions::table.filter(sessions::token_hash.eq(hash.as_slice())))
            .execute(conn)?;
        Ok(())
    }

    pub fn purge_expired(conn: &mut DbConn, now: NaiveDateTime) -> StoreResult<usize> {
        Ok(diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?)
    }
}
