//! Who is calling the management API: a live OAuth access token bound to the organization in
//! the path, carrying the required scope, for a user whose *current* role there allows it
//! (roles are checked on every call, not only at consent).

use super::{Presented, TokenKind, classify, identify};
use crate::integrations::usage::UsageRecorder;
use crate::roles::Role;
use crate::store::audit::Actor;
use crate::store::orgs::Organization;
use crate::store::users::User;
use crate::store::{DbConn, StoreError};
use crate::tokens::jwt::AccessTokenSigner;

/// The caller, once authorised.
pub(crate) struct Acting {
    pub(crate) org: Organization,
    pub(crate) user_id: i64,
    pub(crate) role: Role,
    pub(crate) actor: Actor,
}

/// Why a management call is refused. The web layer answers 401, 404 or 403 in the `/v1`
/// envelope with the RFC 6750 challenge where one applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallerRefusal {
    /// Not a live access token (RFC 6750 `invalid_token`).
    InvalidToken,
    /// A well-formed integration token: it authenticates integrations to resource servers,
    /// not people to the management API (RFC 6750 `invalid_token`, saying so).
    IntegrationToken,
    /// The token is bound to another organization: for it, this one does not exist.
    OrgNotFound(String),
    /// The token lacks the scope (RFC 6750 `insufficient_scope`).
    MissingScope(&'static str),
    /// The user's role in the organization is below what the call needs.
    RoleTooLow { min_role: Role, org: String },
}

/// What a management call needs of its caller.
pub(crate) struct Needs<'a> {
    pub(crate) org_slug: &'a str,
    pub(crate) scope: &'static str,
    pub(crate) min_role: Role,
}

/// Authorises a management call made with bearer `token`, from `ip` (for the audit trail).
pub(crate) fn authorize(
    conn: &mut DbConn,
    signer: &AccessTokenSigner,
    brand: &str,
    usage: &UsageRecorder,
    token: &str,
    needs: &Needs<'_>,
    ip: Option<String>,
) -> Result<Result<Acting, CallerRefusal>, StoreError> {
    let principal = match classify(brand, token) {
        Some(presented @ Presented::Jwt { .. }) => identify(conn, signer, usage, &presented)?,
        Some(Presented::Opaque(p)) if p.kind.is_integration() => {
            return Ok(Err(CallerRefusal::IntegrationToken));
        }
        _ => return Ok(Err(CallerRefusal::InvalidToken)),
    };
    let principal = match principal {
        Ok(p) if p.kind == TokenKind::AccessToken => p,
        _ => return Ok(Err(CallerRefusal::InvalidToken)),
    };
    // A token acts only on the organization it is bound to; others do not exist for it.
    if principal.org != needs.org_slug {
        return Ok(Err(CallerRefusal::OrgNotFound(needs.org_slug.to_string())));
    }
    if !principal.scopes.iter().any(|s| s == needs.scope) {
        return Ok(Err(CallerRefusal::MissingScope(needs.scope)));
    }
    let org = Organization::find_by_slug(conn, needs.org_slug)?;
    let Ok(user_id) = principal.sub.parse::<i64>() else {
        return Ok(Err(CallerRefusal::InvalidToken));
    };
    let role = User::role_in(conn, user_id, org.id)?;
    let Some(role) = role.filter(|r| r.allows(needs.min_role)) else {
        return Ok(Err(CallerRefusal::RoleTooLow {
            min_role: needs.min_role,
            org: needs.org_slug.to_string(),
        }));
    };
    let user = User::find(conn, user_id)?;
    Ok(Ok(Acting {
        org,
        user_id,
        role,
        actor: Actor::user(user_id, &user.username, ip),
    }))
}
