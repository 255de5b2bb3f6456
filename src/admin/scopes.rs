//! Scopes: define one with its description and the minimum role that may grant it.

use super::{AdminError, or_conflict};
use crate::roles::Role;
use crate::store::audit::{self, Actor};
use crate::store::scopes::ScopeDef;
use crate::store::{DbConn, transaction};
use crate::validate;

pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    name: &str,
    description: Option<&str>,
    min_role: Role,
) -> Result<ScopeDef, AdminError> {
    let name = validate::scope_name(name)?;
    let description = validate::description(description.unwrap_or(""))?;
    transaction(conn, |conn| {
        let scope = or_conflict(
            ScopeDef::create(conn, &name, &description, min_role),
            || format!("scope {name:?} already exists"),
        )?;
        audit::record(
            conn,
            None,
            actor,
            "scope.create",
            Some(&name),
            Some(&format!("min_role={min_role}")),
        )?;
        Ok(scope)
    })
}

/// Resolves requested scope names, refusing any that do not exist (naming the first).
pub(crate) fn require_all(
    conn: &mut DbConn,
    names: &[String],
) -> Result<Vec<ScopeDef>, AdminError> {
    let defs = ScopeDef::find_many(conn, names)?;
    if let Some(missing) = names.iter().find(|n| !defs.iter().any(|d| &d.name == *n)) {
        return Err(AdminError::Invalid(validate::Invalid {
            field: "scope",
            message: format!("unknown scope {missing:?}"),
        }));
    }
    Ok(defs)
}
