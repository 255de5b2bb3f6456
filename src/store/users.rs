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

    /// Changes the user's role in one organization; `false` when they are not a member.
    pub fn set_role(conn: &mut DbConn, user_id: i64, org_id: i64, role: Role) -> StoreResult<bool> {
        let n = diesel::update(
            memberships::table
                .filter(memberships::user_id.eq(user_id))
                .filter(memberships::org_id.eq(org_id)),
        )
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Ends the user's membership of one organization; `false` when there was none.
    pub fn remove_membership(conn: &mut DbConn, user_id: i64, org_id: i64) -> StoreResult<bool> {
        let n = diesel::delete(
            memberships::table
                .filter(memberships::user_id.eq(user_id))
                .filter(memberships::org_id.eq(org_id)),
        )
        .execute(conn)?;
        Ok(n == 1)
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

/// One member of an organization, as the member listings show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    #[schema(value_type = String, example = "admin")]
    pub role: Role,
    /// When they joined the organization (RFC 3339, UTC).
    #[serde(with = "crate::clock::as_rfc3339")]
    pub since: NaiveDateTime,
}

/// The members of organization `org_id`, by username.
pub fn members(conn: &mut DbConn, org_id: i64) -> StoreResult<Vec<Member>> {
    member_rows(conn, org_id, None)
}

/// One member of organization `org_id`, if `username` is one.
pub fn member(conn: &mut DbConn, org_id: i64, username: &str) -> StoreResult<Option<Member>> {
    Ok(member_rows(conn, org_id, Some(username))?
        .into_iter()
        .next())
}

fn member_rows(conn: &mut DbConn, org_id: i64, username: Option<&str>) -> StoreResult<Vec<Member>> {
    let mut query = memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(org_id))
        .into_boxed();
    if let Some(username) = username {
        query = query.filter(users::username.eq(username));
    }
    let rows: Vec<(i64, String, String, NaiveDateTime)> = query
        .order(users::username)
        .select((
            users::id,
            users::username,
            memberships::role,
            memberships::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(user_id, username, role, since)| {
            Ok(Member {
                user_id,
                username,
                role: parse_role(&role)?,
                since,
            })
        })
        .collect()
}

/// How many owners organization `org_id` has.
pub fn count_owners(conn: &mut DbConn, org_id: i64) -> StoreResult<i64> {
    Ok(memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)?)
}

/// Of the users `ids`: each one's username and whether they are a member of `org_id` now
/// (what the integration listings say about who created an integration).
pub fn names_and_membership(
    conn: &mut DbConn,
    org_id: i64,
    ids: &[i64],
) -> StoreResult<Vec<(i64, String, bool)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<(i64, String)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::username))
        .load(conn)?;
    let members: Vec<i64> = memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::user_id.eq_any(ids))
        .select(memberships::user_id)
        .load(conn)?;
    Ok(names
        .into_iter()
        .map(|(id, name)| (id, name, members.contains(&id)))
        .collect())
}

/// The CHECK constraint keeps roles valid; a value we cannot read means the row was written by
/// something else, which is a data error rather than bad input.
pub(crate) fn parse_role(raw: &str) -> StoreResult<Role> {
    raw.parse().map_err(|e: crate::roles::UnknownRole| {
        StoreError::Query(diesel::result::Error::DeserializationError(e.into()))
    })
}
