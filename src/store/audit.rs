//! The audit trail: who changed what, from where, and when. Written in the same transaction as
//! the change it records. Never holds a secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{audit_events, organizations};
use super::{DbConn, StoreResult};

/// Who is acting: the operator CLI, a signed-in user, or Tessera itself.
#[derive(Debug, Clone)]
pub struct Actor {
    pub label: String,
    pub user_id: Option<i64>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Actor {
        Actor {
            label: "cli".into(),
            user_id: None,
            ip: None,
        }
    }

    pub fn system() -> Actor {
        Actor {
            label: "system".into(),
            user_id: None,
            ip: None,
        }
    }

    /// An integration token calling the management API: `integration:int_…`.
    pub fn integration(id: &str, ip: Option<String>) -> Actor {
        Actor {
            label: format!("integration:{id}"),
            user_id: None,
            ip,
        }
    }

    pub fn user(user_id: i64, username: &str, ip: Option<String>) -> Actor {
        Actor {
            label: format!("user:{username}"),
            user_id: Some(user_id),
            ip,
        }
    }
}

/// One entry of an organization's audit trail: who did what to what, from where, when.
#[derive(Debug, Clone, Serialize, Queryable, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub org: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    #[serde(with = "crate::clock::as_rfc3339")]
    pub at: NaiveDateTime,
    pub detail: Option<String>,
}

pub fn record(
    conn: &mut DbConn,
    org_id: Option<i64>,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> StoreResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::org_id.eq(org_id),
            audit_events::actor.eq(&actor.label),
            audit_events::action.eq(action),
            audit_events::target.eq(target),
            audit_events::ip.eq(actor.ip.as_deref()),
            audit_events::at.eq(crate::clock::now()),
            audit_events::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which events of an organization to list: each filter given must match exactly; newest
/// first, at most `limit` (callers bound it), older than event id `before`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// What the event is about: an integration id, a client id, a username.
    pub target: Option<String>,
    /// Who acted: `user:ada`, `integration:int_…`, `cli`, `system`.
    pub actor: Option<String>,
    /// What was done: `integration.rotate`, `member.removed`, ….
    pub action: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// The events of organization `org_id` that `filter` selects, newest first.
pub fn list(conn: &mut DbConn, org_id: i64, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
    let mut query = audit_events::table
        .left_join(organizations::table)
        .filter(audit_events::org_id.eq(org_id))
        .into_boxed();
    if let Some(target) = &filter.target {
        query = query.filter(audit_events::target.eq(target));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::actor.eq(actor));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action));
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_events::id.lt(before));
    }
    query
        .order(audit_events::id.desc())
        .limit(filter.limit)
        .select((
            audit_events::id,
            organizations::slug.nullable(),
            audit_events::actor,
            audit_events::action,
            audit_events::target,
            audit_events::ip,
            audit_events::at,
            audit_events::detail,
        ))
        .load(conn)
        .map_err(Into::into)
}
