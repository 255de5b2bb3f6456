//! Users (argon2 password hashes) and their memberships in organizations.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{memberships, organizations, users};
use super::{DbConn, StoreError, StoreResult};
use crate::roles::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    /// argon2id PHC string. Never serialised.
    pub password_hash: String,
    pub created_at: NaiveDateTime,
}

/// A user's place in one organization.
#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    #[serde(skip)]
    pub org_id: i64,
    #[serde(rename = "org")]
    pub org_slug: String,
    pub org_name: String,
    pub role: Role,
}

impl User {
    pub fn create(conn: &mut DbConn, username: &str, password_hash: &str) -> StoreResult<User> {
        diesel::insert_into(users::table)
            .values((
                users::username.eq(username),
                users::password_hash.eq(password_hash),
                users::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        Self::find_by_username(conn, username)
    }

    pub fn find_by_username(conn: &mut DbConn, username: &str) -> StoreResult<User> {
        users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn find(conn: &mut DbConn, id: i64) -> StoreResult<User> {
        users::table
            .find(id)
            .select(User::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn add_membership(
        conn: &mut DbConn,
        user_id: i64,
        org_id: i64,
        role: Role,
    ) -> StoreResult<()> {
        diesel::insert_into(memberships::table)
            .values((
                memberships::user_id.eq(user_id),
                memberships::org_id.eq(org_id),
                memberships::role.eq(role.as_str()),
                memberships::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn memberships(conn: &mut DbConn, user_id: i64) -> StoreResult<Vec<Membership>> {
        let rows: Vec<(i64, String, String, String)> = memberships::table
            .inner_join(organizations::table)
            .filter(memberships::user_id.eq(user_id))
            .order(organizations::slug)
            .select((
                organizations::id,
                organizations::slug,
                organizations::name,
                memberships::role,
            ))
            .load(conn)?;
        rows.into_iter()
            .map(|(org_id, org_slug, org_name, role)| {
                Ok(Membership {
                    org_id,
                    org_slug,
                    org_name,
                    role: parse_role(&role)?,
                })
            })
            .collect()
    }

    /// Replaces the user's argon2 password hash (the caller hashed it; see `oauth::login`).
    pub fn set_password_hash(conn: &mut DbConn, id: i64, password_hash: &str) -> StoreResult<()> {
        let changed = diesel::update(users::table.filter(users::id.eq(id)))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The user's role in one organization, if they belong to it.
    pub fn role_in(conn: &mut DbConn, user_id: i64, org_id: i64) -> StoreResult<Option<Role>> {
        let role: Option<String> = memberships::table
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::org_id.eq(org_id))
            .select(memberships::role)
            .get_result(conn)
            .optional()?;
        role.map(|r| parse_role(&r)).transpose()
    }
}

/// The CHECK constraint keeps roles valid; a value we cannot read means the row was written by
/// something else, which is a data error rather than bad input.
pub(crate) fn parse_role(raw: &str) -> StoreResult<Role> {
    raw.parse().map_err(|e: crate::roles::UnknownRole| {
        StoreError::Query(diesel::result::Error::DeserializationError(e.into()))
    })
}
