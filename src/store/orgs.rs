//! Organizations.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::organizations;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = organizations)]
pub struct Organization {
    #[serde(skip)]
    pub id: i64,
    pub slug: String,
    pub name: String,
    #[serde(with = "crate::clock::as_rfc3339")]
    pub created_at: NaiveDateTime,
}

impl Organization {
    pub fn create(conn: &mut DbConn, slug: &str, name: &str) -> StoreResult<Organization> {
        diesel::insert_into(organizations::table)
            .values((
                organizations::slug.eq(slug),
                organizations::name.eq(name),
                organizations::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        // No RETURNING: the multi-backend connection cannot express it for SQLite.
        Self::find_by_slug(conn, slug)
    }

    pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> StoreResult<Organization> {
        organizations::table
            .filter(organizations::slug.eq(slug))
            .select(Organization::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn find(conn: &mut DbConn, id: i64) -> StoreResult<Organization> {
        organizations::table
            .find(id)
            .select(Organization::as_select())
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn list(conn: &mut DbConn) -> StoreResult<Vec<Organization>> {
        organizations::table
            .order(organizations::slug)
            .select(Organization::as_select())
            .load(conn)
            .map_err(Into::into)
    }

    pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
        organizations::table
            .count()
            .get_result(conn)
            .map_err(Into::into)
    }
}
