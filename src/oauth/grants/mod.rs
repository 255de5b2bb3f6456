//! The token endpoint's grants (RFC 6749 §4.1.3 and §6), one file each, reading top to bottom
//! in the RFC's order: client → credential → flow allowed → grant checks → one write → tokens.
//!
//! oxide-auth decides the protocol steps: each grant drives its state machine
//! (`code_grant::accesstoken::AccessToken`, `code_grant::refresh::Refresh`) one step at a time
//! and answers each step itself from the store — instead of implementing oxide-auth's
//! `Registrar`/`Authorizer`/`Issuer` traits, whose `Err(())` answers lose the reason and would
//! need side channels to carry it. What a request produced comes back as one
//! [`TokenOutcome`]. The access token is signed after the write, outside any transaction.

mod authorization_code;
mod refresh_token;

use chrono::NaiveDateTime;
use oxide_auth::code_grant::error::AccessTokenErrorType;

use super::OAuthContext;
use super::errors::{OAuthError, Refusal};
use super::params::Params;
use crate::store::grants::{Grant, GrantNames};
use crate::store::{DbConn, StoreError, write};
use crate::telemetry::metrics::{self, GrantType};
use crate::tokens::jwt::AccessClaims;
use crate::{clock, duration};

/// The token response's content (RFC 6749 §5.1).
pub(crate) struct Tokens {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) scope: String,
    /// Seconds.
    pub(crate) expires_in: u64,
}

/// A refused token request (RFC 6749 §5.2), and whether refusing it revoked a token family
/// (a replayed code or refresh token), which cached check decisions must not outlive.
pub(crate) struct Refused {
    pub(crate) refusal: Refusal,
    pub(crate) revoked_family: bool,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Refused {
            refusal,
            revoked_family: false,
        }
    }
}

/// What one token request produced.
pub(crate) type TokenOutcome = Result<Tokens, Refused>;

/// What a grant issued, before the access token is signed.
struct Issued {
    claims: AccessClaims,
    refresh_token: Option<String>,
    scope: String,
}

/// `POST /oauth/token`: runs the grant the request names. `Err` only when the store (or the
/// signing key) cannot be used. Counts what it issued, and the replays it caught
/// (`telemetry::metrics`).
pub(crate) fn exchange(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &Params,
) -> Result<TokenOutcome, StoreError> {
    let grant = match params.get("grant_type") {
        Some(authorization_code::GRANT_TYPE) => GrantType::AuthorizationCode,
        Some(refresh_token::GRANT_TYPE) => GrantType::RefreshToken,
        Some(_) => {
            return Ok(Err(Refusal::new(
                OAuthError::UnsupportedGrantType,
                "grant_type must be authorization_code or refresh_token",
            )
            .into()));
        }
        None => {
            return Ok(Err(Refusal::invalid_request(
                "missing parameter \"grant_type\"",
            )
            .into()));
        }
    };
    let issued = match grant {
        GrantType::AuthorizationCode => authorization_code::exchange(conn, ctx, params)?,
        GrantType::RefreshToken => refresh_token::exchange(conn, ctx, params)?,
    };
    match issued {
        Ok(issued) => {
            let tokens = sign(ctx, issued)?;
            metrics::token_issued(grant);
            Ok(Ok(tokens))
        }
        Err(refused) => {
            if refused.revoked_family {
                match grant {
                    GrantType::RefreshToken => metrics::refresh_reuse_detected(),
                    GrantType::AuthorizationCode => metrics::code_replay_detected(),
                }
            }
            Ok(Err(refused))
        }
    }
}

fn sign(ctx: &OAuthContext, issued: Issued) -> Result<Tokens, StoreError> {
    let access_token = ctx.signer.sign(&issued.claims).map_err(|e| {
        tracing::error!(cause = %e, "cannot sign an access token");
        StoreError::Unavailable(e.to_string())
    })?;
    Ok(Tokens {
        access_token,
        refresh_token: issued.refresh_token,
        scope: issued.scope,
        expires_in: ctx.signer.ttl().as_secs(),
    })
}

/// The claims of an access token for `names.client_id`, acting for `user_id` in `names.org`.
fn claims(
    ctx: &OAuthContext,
    user_id: i64,
    names: &GrantNames,
    scope: &str,
    grant_id: &str,
) -> AccessClaims {
    ctx.signer.claims(
        user_id.to_string(),
        names.client_id.clone(),
        scope.to_string(),
        names.org.clone(),
        grant_id.to_string(),
    )
}

/// When the access token being issued expires, as oxide-auth's machines want to know.
fn access_token_expiry(ctx: &OAuthContext) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::TimeDelta::seconds(ctx.signer.ttl().as_secs() as i64)
}

/// What a grant's machine issued once it finished; finishing without issuing would be a bug
/// in the driving loop, reported like any failure to complete the request.
fn finished(issued: Option<Issued>) -> Result<Result<Issued, Refused>, StoreError> {
    issued
        .map(Ok)
        .ok_or_else(|| StoreError::Unavailable("the flow issued nothing".into()))
}

/// A new refresh token's expiry: the grant's absolute end, or sooner with an idle limit.
fn refresh_expiry(ctx: &OAuthContext, grant_expires_at: NaiveDateTime) -> NaiveDateTime {
    match ctx.config.refresh_token_idle_ttl {
        Some(idle) => grant_expires_at.min(clock::now() + duration::to_chrono(idle)),
        None => grant_expires_at,
    }
}

/// Revokes a grant (token family) in a write of its own: the request that found the replay
/// fails, but the revocation must stand.
fn revoke_family(
    conn: &mut DbConn,
    grant_id: &str,
    reason: &'static str,
) -> Result<(), StoreError> {
    let id = grant_id.to_string();
    if write(conn, move |conn| Grant::revoke(conn, &id, reason))? {
        tracing::warn!(grant = %grant_id, reason, "token family revoked");
    }
    Ok(())
}

/// oxide-auth's verdict on a protocol step, as the §5.2 error to answer.
fn from_oxide(kind: Option<AccessTokenErrorType>) -> Refusal {
    let (error, description) = match kind {
        Some(AccessTokenErrorType::InvalidRequest) => (
            OAuthError::InvalidRequest,
            "the request is missing a required parameter or is malformed",
        ),
        Some(AccessTokenErrorType::InvalidClient) => {
            (OAuthError::InvalidClient, "client authentication failed")
        }
        Some(AccessTokenErrorType::InvalidGrant) => (
            OAuthError::InvalidGrant,
            "the grant is invalid, expired, or was issued to another client or redirect URI",
        ),
        Some(AccessTokenErrorType::UnauthorizedClient) => (
            OAuthError::UnauthorizedClient,
            "this client is not registered for this grant type",
        ),
        Some(AccessTokenErrorType::UnsupportedGrantType) => (
            OAuthError::UnsupportedGrantType,
            "grant_type must be authorization_code or refresh_token",
        ),
        Some(AccessTokenErrorType::InvalidScope) => (
            OAuthError::InvalidScope,
            "the requested scope exceeds what was granted",
        ),
        None => (OAuthError::ServerError, "the token could not be issued"),
    };
    Refusal::new(error, description)
}

/// RFC 6749 §5.2 `unauthorized_client`.
fn flow_not_allowed() -> Refusal {
    Refusal::new(
        OAuthError::UnauthorizedClient,
        "this client is not registered for this grant type",
    )
}
