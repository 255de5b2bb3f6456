//! The audit trail of an organization, filtered and paged: one listing for the management API,
//! the CLI and the console.

use serde::Serialize;
use utoipa::ToSchema;

use super::AdminError;
use crate::store::DbConn;
use crate::store::audit::{self, AuditEvent, AuditFilter};
use crate::store::orgs::Organization;
use crate::validate::Invalid;

/// The most events one page holds.
pub(crate) const MAX_PAGE: i64 = 1000;

/// A page of the audit trail, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; `null` when this page is the last.
    pub next_before: Option<i64>,
}

/// The events of `org` that `filter` selects, newest first. `limit` must be 1 to
/// [`MAX_PAGE`]; an empty filter value means no filter; a value over 200 characters is
/// [`AdminError::Invalid`].
pub(crate) fn page(
    conn: &mut DbConn,
    org: &Organization,
    mut filter: AuditFilter,
) -> Result<AuditPage, AdminError> {
    if !(1..=MAX_PAGE).contains(&filter.limit) {
        return Err(Invalid {
            field: "limit",
            message: format!("limit must be from 1 to {MAX_PAGE}"),
        }
        .into());
    }
    for (field, value) in [
        ("target", &mut filter.target),
        ("actor", &mut filter.actor),
        ("action", &mut filter.action),
    ] {
        if value.as_deref().is_some_and(str::is_empty) {
            *value = None;
        }
        if value.as_deref().is_some_and(|v| v.chars().count() > 200) {
            return Err(Invalid {
                field,
                message: format!("{field} must be at most 200 characters"),
            }
            .into());
        }
    }
    let events = audit::list(conn, org.id, &filter)?;
    let next_before = (events.len() as i64 == filter.limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(AuditPage {
        events,
        next_before,
    })
}
