//! Organizations.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{organizations, plan_overrides};
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
    /// The plan's name (`admin::plans::Plan`): which features the organization has.
    pub plan: String,
}

/// An operator's exception to an organization's plan: one feature on or off, until
/// `expires_at` (for good when `None`).
#[derive(Debug, Clone, Queryable, Serialize)]
pub struct PlanOverride {
    pub feature: String,
    pub enabled: bool,
    #[serde(with = "crate::clock::as_rfc3339_opt")]
    pub expires_at: Option<NaiveDateTime>,
}

impl Organization {
    pub fn create(
        conn: &mut DbConn,
        slug: &str,
        name: &str,
        plan: &str,
    ) -> StoreResult<Organization> {
        diesel::insert_into(organizations::table)
            .values((
                organizations::slug.eq(slug),
                organizations::name.eq(name),
                organizations::created_at.eq(crate::clock::now()),
                organizations::plan.eq(plan),
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

    pub fn set_plan(conn: &mut DbConn, id: i64, plan: &str) -> StoreResult<()> {
        diesel::update(organizations::table.find(id))
            .set(organizations::plan.eq(plan))
            .execute(conn)?;
        Ok(())
    }

    /// The organization's overrides still in force at `now`.
    pub fn overrides(
        conn: &mut DbConn,
        id: i64,
        now: NaiveDateTime,
    ) -> StoreResult<Vec<PlanOverride>> {
        plan_overrides::table
            .filter(plan_overrides::org_id.eq(id))
            .filter(
                plan_overrides::expires_at
                    .is_null()
                    .or(plan_overrides::expires_at.gt(now)),
            )
            .order(plan_overrides::feature)
            .select((
                plan_overrides::feature,
                plan_overrides::enabled,
                plan_overrides::expires_at,
            ))
            .load(conn)
            .map_err(Into::into)
    }

    /// Sets (replacing any earlier one) or, with `None`, removes an override of `feature`.
    pub fn set_override(
        conn: &mut DbConn,
        id: i64,
        feature: &str,
        value: Option<(bool, Option<NaiveDateTime>)>,
    ) -> StoreResult<()> {
        diesel::delete(
            plan_overrides::table
                .filter(plan_overrides::org_id.eq(id))
                .filter(plan_overrides::feature.eq(feature)),
        )
        .execute(conn)?;
        if let Some((enabled, expires_at)) = value {
            diesel::insert_into(plan_overrides::table)
                .values((
                    plan_overrides::org_id.eq(id),
                    plan_overrides::feature.eq(feature),
                    plan_overrides::enabled.eq(enabled),
                    plan_overrides::expires_at.eq(expires_at),
                    plan_overrides::created_at.eq(crate::clock::now()),
                ))
                .execute(conn)?;
        }
        Ok(())
    }
}
