//! Integrations and their tokens. Tokens are found by the SHA-256 of their text (unique
//! index); the plaintext is never stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{integration_tokens, integrations, organizations};
use super::{DbConn, StoreResult, revocations};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = integrations)]
pub struct Integration {
    pub id: String,
    pub org_id: i64,
    pub name: String,
    pub description: String,
    pub env: String,
    pub scopes: String,
    pub allow_ips: String,
    pub expires_at: Option<NaiveDateTime>,
    pub inactive_after_secs: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = integration_tokens)]
pub struct IntegrationToken {
    pub id: i64,
    pub integration_id: String,
    pub token_hash: Vec<u8>,
    pub prefix: String,
    pub last4: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    pub use_count: i64,
}

pub struct NewIntegration<'a> {
    pub id: &'a str,
    pub org_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub env: &'a str,
    pub scopes: &'a str,
    pub allow_ips: &'a str,
    pub expires_at: Option<NaiveDateTime>,
    pub inactive_after_secs: Option<i64>,
    pub created_by: Option<i64>,
}

/// The fields a PATCH may change.
#[derive(Default, AsChangeset)]
#[diesel(table_name = integrations)]
pub struct IntegrationChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub allow_ips: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

impl Integration {
    pub fn insert(conn: &mut DbConn, new: &NewIntegration) -> StoreResult<()> {
        let now = crate::clock::now();
        diesel::insert_into(integrations::table)
            .values((
                integrations::id.eq(new.id),
                integrations::org_id.eq(new.org_id),
                integrations::name.eq(new.name),
                integrations::description.eq(new.description),
                integrations::env.eq(new.env),
                integrations::scopes.eq(new.scopes),
                integrations::allow_ips.eq(new.allow_ips),
                integrations::expires_at.eq(new.expires_at),
                integrations::inactive_after_secs.eq(new.inactive_after_secs),
                integrations::created_by.eq(new.created_by),
                integrations::created_at.eq(now),
                integrations::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// One integration of one organization: another organization's id is simply not found.
    pub fn find_in_org(conn: &mut DbConn, org_id: i64, id: &str) -> StoreResult<Integration> {
        integrations::table
            .filter(integrations::id.eq(id))
            .filter(integrations::org_id.eq(org_id))
            .select(Integration::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn find(conn: &mut DbConn, id: &str) -> StoreResult<Integration> {
        integrations::table
            .find(id)
            .select(Integration::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn list_for_org(conn: &mut DbConn, org_id: i64) -> StoreResult<Vec<Integration>> {
        integrations::table
            .filter(integrations::org_id.eq(org_id))
            .order((integrations::created_at, integrations::id))
            .select(Integration::as_select())
            .load(conn)
            .map_err(Into::into)
    }

    /// Integrations not revoked whose expiry falls between `from` and `until` and whose
    /// expiry notice due at `now` has not gone out yet (`super::webhooks::notice_once`), in
    /// pages of `limit` by (expiry, id): `after` is the last of the page before.
    pub fn awaiting_expiry_notice(
        conn: &mut DbConn,
        now: NaiveDateTime,
        (from, until): (NaiveDateTime, NaiveDateTime),
        after: Option<(NaiveDateTime, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<Integration>> {
        use super::schema::webhook_notices;
        use super::webhooks::{NOTICE_EXPIRED, NOTICE_EXPIRING_1D, NOTICE_EXPIRING_7D};
        use diesel::dsl::{exists, not};
        let noticed = |n: &'static str| {
            exists(
                webhook_notices::table
                    .filter(webhook_notices::integration_id.eq(integrations::id))
                    .filter(webhook_notices::notice.eq(n)),
            )
        };
        let day = chrono::TimeDelta::days(1);
        let mut q = integrations::table
            .filter(integrations::revoked_at.is_null())
            .filter(integrations::expires_at.between(from, until))
            .filter(not(noticed(NOTICE_EXPIRED)))
            .filter(not(
                noticed(NOTICE_EXPIRING_1D).and(integrations::expires_at.gt(now))
            ))
            .filter(not(
                noticed(NOTICE_EXPIRING_7D).and(integrations::expires_at.gt(now + day))
            ))
            .into_boxed();
        if let Some((at, id)) = after {
            q = q.filter(
                integrations::expires_at.gt(at).or(integrations::expires_at
                    .eq(at)
                    .and(integrations::id.gt(id.to_string()))),
            );
        }
        q.order((integrations::expires_at, integrations::id))
            .limit(limit)
            .select(Integration::as_select())
            .load(conn)
            .map_err(Into::into)
    }

    pub fn update(conn: &mut DbConn, id: &str, changes: &IntegrationChanges) -> StoreResult<()> {
        diesel::update(integrations::table.find(id))
            .set(changes)
            .execute(conn)?;
        if changes.allow_ips.is_some() {
            revocations::record(conn, revocations::Kind::Integration, id)?;
        }
        Ok(())
    }

    /// Brings the expiry forward to `at` — never later: one already earlier stands (a
    /// conditional update, so concurrent calls cannot extend it either). False if it stood.
    pub fn expire_by(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> StoreResult<bool> {
        let n = diesel::update(
            integrations::table.find(id).filter(
                integrations::expires_at
                    .is_null()
                    .or(integrations::expires_at.gt(at)),
            ),
        )
        .set((
            integrations::expires_at.eq(Some(at)),
            integrations::updated_at.eq(crate::clock::now()),
        ))
        .execute(conn)?;
        if n == 1 {
            revocations::record(conn, revocations::Kind::Integration, id)?;
        }
        Ok(n == 1)
    }

    /// Revokes the integration and every token of it. False if it already was revoked.
    pub fn revoke(conn: &mut DbConn, id: &str) -> StoreResult<bool> {
        let now = crate::clock::now();
        let n = diesel::update(
            integrations::table
                .find(id)
                .filter(integrations::revoked_at.is_null()),
        )
        .set((
            integrations::revoked_at.eq(Some(now)),
            integrations::updated_at.eq(now),
        ))
        .execute(conn)?;
        diesel::update(
            integration_tokens::table
                .filter(integration_tokens::integration_id.eq(id))
                .filter(integration_tokens::revoked_at.is_null()),
        )
        .set(integration_tokens::revoked_at.eq(Some(now)))
        .execute(conn)?;
        revocations::record(conn, revocations::Kind::Integration, id)?;
        Ok(n == 1)
    }
}

impl IntegrationToken {
    pub fn insert(
        conn: &mut DbConn,
        integration_id: &str,
        hash: &[u8; 32],
        prefix: &str,
        last4: &str,
    ) -> StoreResult<()> {
        diesel::insert_into(integration_tokens::table)
            .values((
                integration_tokens::integration_id.eq(integration_id),
                integration_tokens::token_hash.eq(hash.as_slice()),
                integration_tokens::prefix.eq(prefix),
                integration_tokens::last4.eq(last4),
                integration_tokens::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Tokens of these integrations, newest first within each.
    pub fn for_integrations(
        conn: &mut DbConn,
        ids: &[String],
    ) -> StoreResult<Vec<IntegrationToken>> {
        integration_tokens::table
            .filter(integration_tokens::integration_id.eq_any(ids))
            .order((
                integration_tokens::integration_id,
                integration_tokens::id.desc(),
            ))
            .select(IntegrationToken::as_select())
            .load(conn)
            .map_err(Into::into)
    }

    /// Ends every token of the integration still valid at `at` (keeping earlier ends): the
    /// old side of a rotation, now or after a grace period.
    pub fn expire_live(
        conn: &mut DbConn,
        integration_id: &str,
        at: NaiveDateTime,
    ) -> StoreResult<usize> {
        let n = diesel::update(
            integration_tokens::table
                .filter(integration_tokens::integration_id.eq(integration_id))
                .filter(integration_tokens::revoked_at.is_null())
                .filter(
                    integration_tokens::expires_at
                        .is_null()
                        .or(integration_tokens::expires_at.gt(at)),
                ),
        )
        .set(integration_tokens::expires_at.eq(Some(at)))
        .execute(conn)?;
        revocations::record(conn, revocations::Kind::Integration, integration_id)?;
        Ok(n)
    }

    /// Revokes one token (a leak report); its integration's other tokens keep working.
    /// False if it already was revoked.
    pub fn revoke_one(conn: &mut DbConn, id: i64, integration_id: &str) -> StoreResult<bool> {
        let n = diesel::update(
            integration_tokens::table
                .find(id)
                .filter(integration_tokens::revoked_at.is_null()),
        )
        .set(integration_tokens::revoked_at.eq(Some(crate::clock::now())))
        .execute(conn)?;
        if n == 1 {
            revocations::record(conn, revocations::Kind::Integration, integration_id)?;
        } else {
            revocations::already_recorded(conn)?;
        }
        Ok(n == 1)
    }

    /// The token with this hash, its integration and the organization's slug — one query,
    /// the look-up of the check path.
    pub fn find_by_hash(
        conn: &mut DbConn,
        hash: &[u8; 32],
    ) -> StoreResult<Option<(IntegrationToken, Integration, String)>> {
        let row: Option<(IntegrationToken, Integration, String)> = integration_tokens::table
            .inner_join(integrations::table.inner_join(organizations::table))
            .filter(integration_tokens::token_hash.eq(hash.as_slice()))
            .select((
                IntegrationToken::as_select(),
                Integration::as_select(),
                organizations::slug,
            ))
            .get_result(conn)
            .optional()?;
        Ok(row.filter(|(t, ..)| super::digest_matches(hash, &t.token_hash)))
    }

    /// Adds batched usage to a token; the last address changes only when one is known.
    pub fn add_usage(
        conn: &mut DbConn,
        id: i64,
        count: i64,
        at: NaiveDateTime,
        ip: Option<&str>,
    ) -> StoreResult<()> {
        let row = integration_tokens::table.find(id);
        let counts = (
            integration_tokens::use_count.eq(integration_tokens::use_count + count),
            integration_tokens::last_used_at.eq(Some(at)),
        );
        match ip {
            Some(ip) => diesel::update(row)
                .set((counts, integration_tokens::last_used_ip.eq(Some(ip))))
                .execute(conn)?,
            None => diesel::update(row).set(counts).execute(conn)?,
        };
        Ok(())
    }
}
