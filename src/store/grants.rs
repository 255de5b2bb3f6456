//! Grants (token families), authorization codes, refresh tokens and revoked access-token ids.
//!
//! Every state change that must happen at most once (consuming a code, rotating a refresh
//! token, revoking a grant) is a conditional `UPDATE … WHERE <still unchanged>`: of two
//! concurrent requests, exactly one sees its row count be 1.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    authorization_codes, clients, grants, organizations, refresh_tokens, revoked_access_tokens,
};
use super::{DbConn, StoreResult, revocations};

/// One completed authorization and everything issued from it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = grants)]
pub struct Grant {
    pub id: String,
    pub client_id: i64,
    pub user_id: i64,
    pub org_id: i64,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// Names carried into tokens alongside a grant: the public client id and organization slug.
#[derive(Debug, Clone)]
pub struct GrantNames {
    pub client_id: String,
    pub org: String,
}

impl Grant {
    pub fn insert(conn: &mut DbConn, grant: &Grant) -> StoreResult<()> {
        diesel::insert_into(grants::table)
            .values((
                grants::id.eq(&grant.id),
                grants::client_id.eq(grant.client_id),
                grants::user_id.eq(grant.user_id),
                grants::org_id.eq(grant.org_id),
                grants::scope.eq(&grant.scope),
                grants::created_at.eq(grant.created_at),
                grants::expires_at.eq(grant.expires_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Option<(Grant, GrantNames)>> {
        let row: Option<(Grant, String, String)> = grants::table
            .inner_join(clients::table)
            .inner_join(organizations::table)
            .filter(grants::id.eq(id))
            .select((Grant::as_select(), clients::client_id, organizations::slug))
            .get_result(conn)
            .optional()?;
        Ok(row.map(|(g, client_id, org)| (g, GrantNames { client_id, org })))
    }

    /// Removes a grant that was never used (its code turned out to be spent).
    pub fn delete_unused(conn: &mut DbConn, id: &str) -> StoreResult<()> {
        diesel::delete(grants::table.filter(grants::id.eq(id))).execute(conn)?;
        Ok(())
    }

    /// Revokes the grant and so every token descended from it. True if this call revoked it.
    pub fn revoke(conn: &mut DbConn, id: &str, reason: &str) -> StoreResult<bool> {
        let n = diesel::update(
            grants::table
                .filter(grants::id.eq(id))
                .filter(grants::revoked_at.is_null()),
        )
        .set((
            grants::revoked_at.eq(Some(crate::clock::now())),
            grants::revoked_reason.eq(Some(reason)),
        ))
        .execute(conn)?;
        if n == 1 {
            revocations::record(conn, revocations::Kind::Grant, id)?;
        } else {
            revocations::already_recorded(conn)?;
        }
        Ok(n == 1)
    }

    /// Revokes every live grant of a client (it is being deleted); returns their ids.
    pub fn revoke_for_client(
        conn: &mut DbConn,
        client_pk: i64,
        reason: &str,
    ) -> StoreResult<Vec<String>> {
        let ids: Vec<String> = grants::table
            .filter(grants::client_id.eq(client_pk))
            .filter(grants::revoked_at.is_null())
            .select(grants::id)
            .load(conn)?;
        Self::revoke_all(conn, ids, reason)
    }

    /// Revokes every live grant a user gave a client; returns their ids.
    pub fn revoke_for_user_and_client(
        conn: &mut DbConn,
        user_id: i64,
        client_pk: i64,
        reason: &str,
    ) -> StoreResult<Vec<String>> {
        let ids: Vec<String> = grants::table
            .filter(grants::user_id.eq(user_id))
            .filter(grants::client_id.eq(client_pk))
            .filter(grants::revoked_at.is_null())
            .select(grants::id)
            .load(conn)?;
        Self::revoke_all(conn, ids, reason)
    }

    /// Revokes every live grant of `user_id` bound to organization `org_id` (the user left it),
    /// recording each in the revocation feed; returns their ids.
    pub fn revoke_for_user_in_org(
        conn: &mut DbConn,
        user_id: i64,
        org_id: i64,
        reason: &str,
    ) -> StoreResult<Vec<String>> {
        let ids: Vec<String> = grants::table
            .filter(grants::user_id.eq(user_id))
            .filter(grants::org_id.eq(org_id))
            .filter(grants::revoked_at.is_null())
            .select(grants::id)
            .load(conn)?;
        Self::revoke_all(conn, ids, reason)
    }

    /// Revokes the grants `ids` (found live a moment ago), recording each in the revocation
    /// feed; returns them.
    fn revoke_all(conn: &mut DbConn, ids: Vec<String>, reason: &str) -> StoreResult<Vec<String>> {
        diesel::update(
            grants::table
                .filter(grants::id.eq_any(&ids))
                .filter(grants::revoked_at.is_null()),
        )
        .set((
            grants::revoked_at.eq(Some(crate::clock::now())),
            grants::revoked_reason.eq(Some(reason)),
        ))
        .execute(conn)?;
        for id in &ids {
            revocations::record(conn, revocations::Kind::Grant, id)?;
        }
        if ids.is_empty() {
            revocations::already_recorded(conn)?;
        }
        Ok(ids)
    }

    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
pub struct AuthorizationCode {
    pub id: i64,
    pub code_hash: Vec<u8>,
    pub client_id: i64,
    pub user_id: i64,
    pub org_id: i64,
    pub scope: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
    pub grant_id: Option<String>,
    /// Whether the authorization request carried `redirect_uri` (then the token request must
    /// repeat `redirect_uri` exactly, RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
}

pub struct NewCode<'a> {
    pub hash: &'a [u8; 32],
    pub client_pk: i64,
    pub user_id: i64,
    pub org_id: i64,
    pub scope: &'a str,
    pub redirect_uri: &'a str,
    pub redirect_uri_given: bool,
    pub code_challenge: Option<&'a str>,
    pub expires_at: NaiveDateTime,
}

impl AuthorizationCode {
    pub fn insert(conn: &mut DbConn, code: &NewCode) -> StoreResult<()> {
        diesel::insert_into(authorization_codes::table)
            .values((
                authorization_codes::code_hash.eq(code.hash.as_slice()),
                authorization_codes::client_id.eq(code.client_pk),
                authorization_codes::user_id.eq(code.user_id),
                authorization_codes::org_id.eq(code.org_id),
                authorization_codes::scope.eq(code.scope),
                authorization_codes::redirect_uri.eq(code.redirect_uri),
                authorization_codes::redirect_uri_given.eq(code.redirect_uri_given),
                authorization_codes::code_challenge.eq(code.code_challenge),
                authorization_codes::created_at.eq(crate::clock::now()),
                authorization_codes::expires_at.eq(code.expires_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The code with this hash, and the names its tokens will carry — one query.
    pub fn find(
        conn: &mut DbConn,
        hash: &[u8; 32],
    ) -> StoreResult<Option<(AuthorizationCode, GrantNames)>> {
        let row: Option<(AuthorizationCode, String, String)> = authorization_codes::table
            .inner_join(clients::table)
            .inner_join(organizations::table)
            .filter(authorization_codes::code_hash.eq(hash.as_slice()))
            .select((
                AuthorizationCode::as_select(),
                clients::client_id,
                organizations::slug,
            ))
            .get_result(conn)
            .optional()?;
        Ok(row
            .filter(|(code, ..)| super::digest_matches(hash, &code.code_hash))
            .map(|(code, client_id, org)| (code, GrantNames { client_id, org })))
    }

    /// The grant a consumed code produced, if it got that far.
    pub fn grant_of(conn: &mut DbConn, id: i64) -> StoreResult<Option<String>> {
        Ok(authorization_codes::table
            .find(id)
            .select(authorization_codes::grant_id)
            .get_result::<Option<String>>(conn)
            .optional()?
            .flatten())
    }

    /// Marks the code used by the grant it produced (which must exist), in one statement.
    /// False if the code was already used: the caller is looking at a replay.
    pub fn consume(conn: &mut DbConn, id: i64, grant_id: &str) -> StoreResult<bool> {
        let n = diesel::update(
            authorization_codes::table
                .filter(authorization_codes::id.eq(id))
                .filter(authorization_codes::consumed_at.is_null()),
        )
        .set((
            authorization_codes::consumed_at.eq(Some(crate::clock::now())),
            authorization_codes::grant_id.eq(Some(grant_id)),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Voids every unused code `user_id` has for the client `client_pk` (a consent revoked):
    /// they can no longer be exchanged. Run it before revoking the grants: an exchange in
    /// flight holds its code's row, so this waits for it to commit, and the grants it made are
    /// then seen by the revocation that follows (READ COMMITTED reads anew per statement).
    pub fn void_unused(conn: &mut DbConn, user_id: i64, client_pk: i64) -> StoreResult<usize> {
        Ok(diesel::update(
            authorization_codes::table
                .filter(authorization_codes::user_id.eq(user_id))
                .filter(authorization_codes::client_id.eq(client_pk))
                .filter(authorization_codes::consumed_at.is_null()),
        )
        .set(authorization_codes::consumed_at.eq(Some(crate::clock::now())))
        .execute(conn)?)
    }

    /// Voids every unused code `user_id` has for organization `org_id` (the user left it),
    /// before their grants there are revoked — for the reason given at [`Self::void_unused`].
    pub fn void_unused_in_org(conn: &mut DbConn, user_id: i64, org_id: i64) -> StoreResult<usize> {
        Ok(diesel::update(
            authorization_codes::table
                .filter(authorization_codes::user_id.eq(user_id))
                .filter(authorization_codes::org_id.eq(org_id))
                .filter(authorization_codes::consumed_at.is_null()),
        )
        .set(authorization_codes::consumed_at.eq(Some(crate::clock::now())))
        .execute(conn)?)
    }

    /// Codes live 60 seconds; consumed ones are kept a little longer so that a late replay is
    /// still recognised (and still revokes what the code produced).
    pub fn purge(conn: &mut DbConn, older_than: NaiveDateTime) -> StoreResult<usize> {
        Ok(diesel::delete(
            authorization_codes::table.filter(authorization_codes::expires_at.lt(older_than)),
        )
        .execute(conn)?)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: i64,
    pub token_hash: Vec<u8>,
    pub grant_id: String,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    /// Presented again within its client's rotation grace already (once is all it gets).
    pub grace_used: bool,
}

impl RefreshToken {
    pub fn insert(
        conn: &mut DbConn,
        hash: &[u8; 32],
        grant_id: &str,
        scope: &str,
        expires_at: NaiveDateTime,
    ) -> StoreResult<()> {
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(hash.as_slice()),
                refresh_tokens::grant_id.eq(grant_id),
                refresh_tokens::scope.eq(scope),
                refresh_tokens::created_at.eq(crate::clock::now()),
                refresh_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The token with this hash, its grant, and the names tokens carry — one query.
    pub fn find(
        conn: &mut DbConn,
        hash: &[u8; 32],
    ) -> StoreResult<Option<(RefreshToken, Grant, GrantNames)>> {
        let row: Option<(RefreshToken, Grant, String, String)> = refresh_tokens::table
            .inner_join(
                grants::table
                    .inner_join(clients::table)
                    .inner_join(organizations::table),
            )
            .filter(refresh_tokens::token_hash.eq(hash.as_slice()))
            .select((
                RefreshToken::as_select(),
                Grant::as_select(),
                clients::client_id,
                organizations::slug,
            ))
            .get_result(conn)
            .optional()?;
        Ok(row
            .filter(|(t, ..)| super::digest_matches(hash, &t.token_hash))
            .map(|(t, g, client_id, org)| (t, g, GrantNames { client_id, org })))
    }

    /// Takes the one retry a rotated token gets within its client's grace. False if taken.
    pub fn use_grace(conn: &mut DbConn, id: i64) -> StoreResult<bool> {
        let n = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::id.eq(id))
                .filter(refresh_tokens::grace_used.eq(false)),
        )
        .set(refresh_tokens::grace_used.eq(true))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// When the token was exchanged for its successor, if it was.
    pub fn rotated_at(conn: &mut DbConn, id: i64) -> StoreResult<Option<NaiveDateTime>> {
        refresh_tokens::table
            .find(id)
            .select(refresh_tokens::rotated_at)
            .get_result(conn)
            .map_err(Into::into)
    }

    /// Marks the live token `id` exchanged and inserts its successor — false, changing
    /// nothing, if it was exchanged already. On PostgreSQL one statement (run it through
    /// `store::write_statement`: one round trip and one commit for the hot write of a refresh).
    pub fn rotate_into(
        conn: &mut DbConn,
        id: i64,
        next_hash: &[u8; 32],
        grant_id: &str,
        scope: &str,
        expires_at: NaiveDateTime,
    ) -> StoreResult<bool> {
        let now = crate::clock::now();
        if let DbConn::Postgresql(pg) = conn {
            use diesel::sql_types::{BigInt, Binary, Text, Timestamp};
            let n = diesel::sql_query(
                "WITH exchanged AS (UPDATE refresh_tokens SET rotated_at = $1 \
                 WHERE id = $2 AND rotated_at IS NULL RETURNING id) \
                 INSERT INTO refresh_tokens (token_hash, grant_id, scope, created_at, expires_at) \
                 SELECT $3, $4, $5, $1, $6 FROM exchanged",
            )
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(id)
            .bind::<Binary, _>(next_hash.as_slice())
            .bind::<Text, _>(grant_id)
            .bind::<Text, _>(scope)
            .bind::<Timestamp, _>(expires_at)
            .execute(pg)?;
            return Ok(n == 1);
        }
        if !Self::rotate(conn, id)? {
            return Ok(false);
        }
        Self::insert(conn, next_hash, grant_id, scope, expires_at)?;
        Ok(true)
    }

    /// Marks the token exchanged for its successor. False if it already was.
    pub fn rotate(conn: &mut DbConn, id: i64) -> StoreResult<bool> {
        let n = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::id.eq(id))
                .filter(refresh_tokens::rotated_at.is_null()),
        )
        .set(refresh_tokens::rotated_at.eq(Some(crate::clock::now())))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// Access tokens revoked one by one (RFC 7009), kept until they would have expired anyway.
pub fn revoke_access_token(
    conn: &mut DbConn,
    jti: &str,
    expires_at: NaiveDateTime,
) -> StoreResult<()> {
    // Two revocations of one token at once: the second waits, then finds the first's row
    // (rather than failing on the primary key, which RFC 7009 §2.2 answers with 200).
    super::lock_entity(conn, "access_token", jti)?;
    let exists = revoked_access_tokens::table
        .find(jti)
        .select(revoked_access_tokens::jti)
        .get_result::<String>(conn)
        .optional()?
        .is_some();
    if !exists {
        diesel::insert_into(revoked_access_tokens::table)
            .values((
                revoked_access_tokens::jti.eq(jti),
                revoked_access_tokens::expires_at.eq(expires_at),
                revoked_access_tokens::revoked_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        revocations::record(conn, revocations::Kind::AccessToken, jti)?;
    } else {
        revocations::already_recorded(conn)?;
    }
    Ok(())
}

/// Whether an access token is dead although its signature and `exp` hold: revoked by itself,
/// or its grant revoked, expired long ago, or deleted.
pub fn access_token_revoked(conn: &mut DbConn, jti: &str, grant_id: &str) -> StoreResult<bool> {
    let by_jti = revoked_access_tokens::table
        .find(jti)
        .select(revoked_access_tokens::jti)
        .get_result::<String>(conn)
        .optional()?
        .is_some();
    if by_jti {
        return Ok(true);
    }
    let grant_revoked: Option<Option<NaiveDateTime>> = grants::table
        .find(grant_id)
        .select(grants::revoked_at)
        .get_result(conn)
        .optional()?;
    Ok(!matches!(grant_revoked, Some(None)))
}

/// Housekeeping: drops what can no longer matter. Returns rows deleted per table.
pub fn purge(
    conn: &mut DbConn,
    now: NaiveDateTime,
    access_ttl: chrono::TimeDelta,
) -> StoreResult<[usize; 3]> {
    let codes = AuthorizationCode::purge(conn, now - chrono::TimeDelta::hours(1))?;
    // A grant's access tokens may outlive it by one access-token lifetime; keep the grant row
    // that long so that the check path still sees it as revoked rather than unknown.
    let horizon = now - access_ttl;
    let grants_gone = diesel::delete(
        grants::table.filter(
            grants::expires_at
                .lt(horizon)
                .or(grants::revoked_at.lt(horizon)),
        ),
    )
    .execute(conn)?;
    let jtis = diesel::delete(
        revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.lt(now)),
    )
    .execute(conn)?;
    Ok([codes, grants_gone, jtis])
}
