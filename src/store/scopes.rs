//! Scope definitions: name, description, the minimum role that may grant it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::scopes;
use super::users::parse_role;
use super::{DbConn, StoreResult};
use crate::roles::Role;

#[derive(Debug, Clone, Serialize)]
pub struct ScopeDef {
    pub name: String,
    pub description: String,
    pub min_role: Role,
    pub built_in: bool,
    #[serde(with = "crate::clock::as_rfc3339")]
    pub created_at: NaiveDateTime,
}

type Row = (String, String, String, bool, NaiveDateTime);

fn from_row((name, description, min_role, built_in, created_at): Row) -> StoreResult<ScopeDef> {
    Ok(ScopeDef {
        name,
        description,
        min_role: parse_role(&min_role)?,
        built_in,
        created_at,
    })
}

const COLUMNS: (
    scopes::name,
    scopes::description,
    scopes::min_role,
    scopes::built_in,
    scopes::created_at,
) = (
    scopes::name,
    scopes::description,
    scopes::min_role,
    scopes::built_in,
    scopes::created_at,
);

impl ScopeDef {
    pub fn create(
        conn: &mut DbConn,
        name: &str,
        description: &str,
        min_role: Role,
    ) -> StoreResult<ScopeDef> {
        diesel::insert_into(scopes::table)
            .values((
                scopes::name.eq(name),
                scopes::description.eq(description),
                scopes::min_role.eq(min_role.as_str()),
                scopes::built_in.eq(false),
                scopes::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        let row: Row = scopes::table.find(name).select(COLUMNS).get_result(conn)?;
        from_row(row)
    }

    pub fn list(conn: &mut DbConn) -> StoreResult<Vec<ScopeDef>> {
        let rows: Vec<Row> = scopes::table
            .order(scopes::name)
            .select(COLUMNS)
            .load(conn)?;
        rows.into_iter().map(from_row).collect()
    }

    /// The definitions of the named scopes that exist, in the order asked.
    pub fn find_many(conn: &mut DbConn, names: &[String]) -> StoreResult<Vec<ScopeDef>> {
        // The scope table is small, and a fixed query keeps its prepared statement (an
        // `IN (…)` list changes with its length and is re-parsed every time).
        let mut defs: Vec<ScopeDef> = Self::list(conn)?
            .into_iter()
            .filter(|d| names.contains(&d.name))
            .collect();
        defs.sort_by_key(|d| names.iter().position(|n| n == &d.name));
        Ok(defs)
    }
}
