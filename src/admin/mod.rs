//! Operator and administrator actions (organizations, users, members, scopes, OAuth clients,
//! the audit listing), shared by the CLI and the HTTP management API. Each action validates its
//! input, changes the store in one transaction and records an audit event in the same
//! transaction.

pub(crate) mod audit;
pub(crate) mod clients;
pub(crate) mod consents;
pub(crate) mod members;
pub(crate) mod orgs;
pub(crate) mod plans;
pub(crate) mod scopes;
pub(crate) mod users;

use thiserror::Error;

use crate::store::{DbConn, StoreError};
use crate::validate::Invalid;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The acting role may not do this (e.g. an admin touching an owner).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Internal(String),
    /// The organization's plan lacks the feature (`admin::plans`).
    #[error("{feature} need the {required} plan or higher (this organization is on {plan})")]
    PlanUpgradeRequired {
        feature: plans::Feature,
        plan: plans::Plan,
        required: plans::Plan,
    },
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}

impl From<crate::passwords::HashError> for AdminError {
    fn from(e: crate::passwords::HashError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

/// Turns a store `NotFound` into a message that names what was missing.
pub(crate) fn or_not_found<T>(
    r: Result<T, StoreError>,
    what: impl FnOnce() -> String,
) -> Result<T, AdminError> {
    match r {
        Err(StoreError::NotFound) => Err(AdminError::NotFound(what())),
        other => other.map_err(AdminError::from),
    }
}

/// Turns a unique-key violation into a message that names the duplicate.
pub(crate) fn or_conflict<T>(
    r: Result<T, StoreError>,
    what: impl FnOnce() -> String,
) -> Result<T, AdminError> {
    match r {
        Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(what())),
        other => other.map_err(AdminError::from),
    }
}

/// On the very first start (no organization yet), creates organization `default` with an owner
/// `admin`, so that a fresh install can be signed into at once. The password is `password`, or
/// generated when `None` — and then returned, to be shown once (never logged). `Ok(None)`
/// when nothing was created or the password was given.
///
/// Instances starting at once on one PostgreSQL call this inside `Db::exclusive`, so one
/// creates and the others find.
pub(crate) fn bootstrap(
    conn: &mut DbConn,
    password: Option<String>,
    plan: crate::plans::Plan,
) -> Result<Option<String>, AdminError> {
    if crate::store::orgs::Organization::count(conn)? > 0 {
        return Ok(None);
    }
    let generated = password.is_none();
    let password = password.unwrap_or_else(|| crate::tokens::secret::random_base62(20));
    let actor = crate::store::audit::Actor::system();
    orgs::create(conn, &actor, "default", Some("Default organization"), plan)?;
    users::create(
        conn,
        &actor,
        "admin",
        "default",
        crate::roles::Role::Owner,
        &password,
    )?;
    tracing::info!("first start: created organization \"default\" with owner \"admin\"");
    Ok(generated.then_some(password))
}
