//! Who is calling the management API: a bearer OAuth access token bound to the organization
//! in the path, carrying the required scope, for a user whose *current* role there allows it
//! (roles are checked on every call, not only at consent).

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header;

use crate::access::{self, TokenKind};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::roles::Role;
use crate::store::StoreError;
use crate::store::audit::Actor;
use crate::store::orgs::Organization;
use crate::store::users::User;

/// The caller, once authorised.
pub struct Acting {
    pub org: Organization,
    pub user_id: i64,
    pub role: Role,
    pub actor: Actor,
}

pub fn bearer(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("malformed Authorization header", true))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(unauthorized(
            "the Authorization header must be `Bearer <token>`",
            true,
        )),
    }
}

/// 401 with the RFC 6750 challenge: plain `Bearer` when no token came, `invalid_token` else.
pub fn unauthorized(message: &str, token_given: bool) -> ApiError {
    let challenge = if token_given {
        r#"Bearer realm="tessera", error="invalid_token""#
    } else {
        r#"Bearer realm="tessera""#
    };
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        .with_www_authenticate(challenge)
}

pub fn forbidden_scope(scope: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden_scope",
        format!("the token lacks the scope {scope}"),
    )
    .with_extra("required_scope", scope)
    .with_www_authenticate(format!(
        r#"Bearer realm="tessera", error="insufficient_scope", scope="{scope}""#
    ))
}

enum Refused {
    Api(ApiError),
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

/// Authorises a management call on organization `org_slug` needing `scope`, and a role of at
/// least `min_role` there.
pub async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    org_slug: &str,
    scope: &'static str,
    min_role: Role,
) -> Result<Acting, ApiError> {
    let token = bearer(req)?
        .map(str::to_string)
        .ok_or_else(|| unauthorized("a bearer access token is required", false))?;
    let ip = crate::http::client_ip::client_ip(req, &state.config.trusted_proxies)
        .map(|ip| ip.to_string());
    let signer = state.oauth.signer.clone();
    let brand = state.config.token_brand.clone();
    let usage = state.usage.clone();
    let org_slug = org_slug.to_string();
    let outcome = state
        .db
        .run(move |conn| -> Result<Acting, Refused> {
            let principal = match access::identify(conn, &signer, &brand, &usage, &token)? {
                Ok(p) if p.kind == TokenKind::AccessToken => p,
                _ => {
                    return Err(Refused::Api(unauthorized(
                        "the access token is invalid, expired or revoked",
                        true,
                    )));
                }
            };
            // A token acts only on the organization it is bound to; others do not exist for it.
            if principal.org != org_slug {
                return Err(Refused::Api(ApiError::not_found(format!(
                    "organization {org_slug:?} not found"
                ))));
            }
            if !principal.scopes.iter().any(|s| s == scope) {
                return Err(Refused::Api(forbidden_scope(scope)));
            }
            let org = Organization::find_by_slug(conn, &org_slug)?;
            let user_id: i64 = principal
                .sub
                .parse()
                .map_err(|_| Refused::Api(unauthorized("unknown subject", true)))?;
            let role = User::role_in(conn, user_id, org.id)?;
            let Some(role) = role.filter(|r| r.allows(min_role)) else {
                return Err(Refused::Api(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this needs the role {min_role} or higher in {org_slug}"),
                )));
            };
            let user = User::find(conn, user_id)?;
            Ok(Acting {
                org,
                user_id,
                role,
                actor: Actor::user(user_id, &user.username, ip),
            })
        })
        .await;
    match outcome {
        Ok(acting) => Ok(acting),
        Err(Refused::Api(e)) => Err(e),
        Err(Refused::Store(StoreError::NotFound)) => Err(ApiError::not_found("not found")),
        Err(Refused::Store(e)) => Err(e.into()),
    }
}
