//! Who is calling the management API: a live OAuth access token bound to the organization in
//! the path, carrying the required scope, for a user whose *current* role there allows it
//! (roles are checked on every call, not only at consent); or a live integration token of that
//! organization carrying the required scope — an organization automating its own key rotation.
//! An integration token acts with the role [`INTEGRATION_ROLE`], is held to its IP allowlist,
//! and each call is a use of it (last used, count).

use super::{Presented, TokenKind, classify, identify};
use crate::integrations::usage::UsageRecorder;
use crate::roles::Role;
use crate::store::audit::Actor;
use crate::store::orgs::Organization;
use crate::store::users::User;
use crate::store::{DbConn, StoreError};
use crate::tokens::jwt::AccessTokenSigner;

use std::net::IpAddr;

/// The role an integration token acts with: the management scopes it may carry need an
/// `admin` to grant them, and it can do no more than such an admin (never what needs `owner`).
pub(crate) const INTEGRATION_ROLE: Role = Role::Admin;

/// Who is calling, for the per-caller request rate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CallerKey {
    /// A signed-in user, whichever of their access tokens they use.
    User(i64),
    /// An integration, whichever of its tokens is used.
    Integration(String),
}

/// The caller, once authorised.
pub(crate) struct Acting {
    pub(crate) org: Organization,
    /// The signed-in user; `None` for an integration token.
    pub(crate) user_id: Option<i64>,
    pub(crate) role: Role,
    pub(crate) actor: Actor,
    pub(crate) key: CallerKey,
    /// An integration token's scopes (what an integration it creates may have at most);
    /// `None` for a person.
    pub(crate) held_scopes: Option<Vec<String>>,
}

/// Why a management call is refused. The web layer answers 401, 404 or 403 in the `/v1`
/// envelope with the RFC 6750 challenge where one applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallerRefusal {
    /// Not a live access token or integration token, or an integration token used from an
    /// address its allowlist does not include (RFC 6750 `invalid_token`).
    InvalidToken,
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

/// Authorises a management call made with bearer `token`, from `ip` (the allowlist of an
/// integration token, and the audit trail).
pub(crate) fn authorize(
    conn: &mut DbConn,
    signer: &AccessTokenSigner,
    brand: &str,
    usage: &UsageRecorder,
    token: &str,
    needs: &Needs<'_>,
    ip: Option<IpAddr>,
) -> Result<Result<Acting, CallerRefusal>, StoreError> {
    let principal = match classify(brand, token) {
        Some(presented @ Presented::Jwt { .. }) => identify(conn, signer, usage, &presented)?,
        Some(presented @ Presented::Opaque(_)) => identify(conn, signer, usage, &presented)?,
        None => return Ok(Err(CallerRefusal::InvalidToken)),
    };
    let principal = match principal {
        Ok(p) if p.kind == TokenKind::AccessToken => p,
        Ok(p) if p.kind == TokenKind::IntegrationToken => {
            return integration(conn, usage, p, needs, ip);
        }
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
        user_id: Some(user_id),
        role,
        actor: Actor::user(user_id, &user.username, ip.map(|ip| ip.to_string())),
        key: CallerKey::User(user_id),
        held_scopes: None,
    }))
}

/// An integration token as a management caller: its allowlist, its organization, its scopes,
/// then the call counts as a use.
fn integration(
    conn: &mut DbConn,
    usage: &UsageRecorder,
    principal: super::Principal,
    needs: &Needs<'_>,
    ip: Option<IpAddr>,
) -> Result<Result<Acting, CallerRefusal>, StoreError> {
    let allowed_here = principal.allow_ips.is_empty()
        || ip.is_some_and(|ip| principal.allow_ips.iter().any(|n| n.contains(&ip)));
    if !allowed_here {
        return Ok(Err(CallerRefusal::InvalidToken));
    }
    if principal.org != needs.org_slug {
        return Ok(Err(CallerRefusal::OrgNotFound(needs.org_slug.to_string())));
    }
    if !principal.scopes.iter().any(|s| s == needs.scope) {
        return Ok(Err(CallerRefusal::MissingScope(needs.scope)));
    }
    if !INTEGRATION_ROLE.allows(needs.min_role) {
        return Ok(Err(CallerRefusal::RoleTooLow {
            min_role: needs.min_role,
            org: needs.org_slug.to_string(),
        }));
    }
    let org = Organization::find_by_slug(conn, needs.org_slug)?;
    if let Some(id) = principal.token_id {
        usage.record(id, ip);
    }
    let id = principal.sub;
    Ok(Ok(Acting {
        org,
        user_id: None,
        role: INTEGRATION_ROLE,
        actor: Actor::integration(&id, ip.map(|ip| ip.to_string())),
        key: CallerKey::Integration(id),
        held_scopes: Some(principal.scopes),
    }))
}
