//! Organizations: create one (its plan: `admin::plans`).

use super::{AdminError, or_conflict};
use crate::store::audit::{self, Actor};
use crate::store::orgs::Organization;
use crate::store::{DbConn, transaction};
use crate::validate;

pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    slug: &str,
    name: Option<&str>,
    plan: crate::plans::Plan,
) -> Result<Organization, AdminError> {
    let slug = validate::slug(slug)?;
    let name = validate::name("name", name.unwrap_or(&slug))?;
    transaction(conn, |conn| {
        let org = or_conflict(
            Organization::create(conn, &slug, &name, plan.as_str()),
            || format!("organization {slug:?} already exists"),
        )?;
        audit::record(conn, Some(org.id), actor, "org.create", Some(&slug), None)?;
        Ok(org)
    })
}

pub(crate) fn find(conn: &mut DbConn, slug: &str) -> Result<Organization, AdminError> {
    super::or_not_found(Organization::find_by_slug(conn, slug), || {
        format!("organization {slug:?}")
    })
}
