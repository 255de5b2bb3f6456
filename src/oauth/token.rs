//! `POST /oauth/token` (RFC 6749 §4.1.3, §6): the authorization-code and refresh grants.
//!
//! Order of work: read the body (bounded) → parse form or JSON and client credentials → run
//! oxide-auth's flow for the grant type → sign the access token → answer with the tokens or the
//! precise §5.2 error. The flow's state changes are short transactions of their own (see
//! [`exchange`]); a replay it detects revokes the family even though the request fails.

use actix_web::{HttpRequest, HttpResponse, web};
use oxide_auth::code_grant::accesstoken as at;
use oxide_auth::code_grant::error::AccessTokenErrorType;
use oxide_auth::code_grant::refresh as rf;
use oxide_auth::primitives::prelude::Registrar;
use serde_json::json;

use super::OAuthContext;
use super::errors::{Refusal, no_store};
use super::params::Params;
use super::primitives::StoreEndpoint;
use crate::http::AppState;
use crate::store::{DbConn, StoreError};

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match Params::read(&req, payload).await {
        Ok(p) => p,
        Err(refusal) => return refusal.response(),
    };
    let ctx = state.oauth.clone();
    match state
        .db
        .run(move |conn| exchange(conn, &ctx, &params))
        .await
    {
        Ok(Ok(issued)) => success(&issued),
        Ok(Err(refused)) => {
            if refused.revoked_family {
                state.checker.invalidate();
            }
            refused.refusal.response()
        }
        Err(e) => {
            tracing::warn!(cause = %e, "token request failed on the store");
            Refusal::unavailable().response()
        }
    }
}

fn success(issued: &Tokens) -> HttpResponse {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    });
    if let Some(refresh) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    res.json(body)
}

/// The token response's content.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub expires_in: u64,
}

/// Runs the grant's flow. Each state change inside it is its own short transaction (consume a
/// code and start its family; rotate a refresh token; revoke a family on replay); reads and
/// the access token's signature happen outside them, so no lock is held for long.
pub fn exchange(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &Params,
) -> Result<Result<Tokens, Refused>, StoreError> {
    let grant_type: &'static str = match params.get("grant_type") {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some(_) => {
            return Ok(Err(Refusal::new(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            )
            .into()));
        }
        None => {
            return Ok(Err(Refusal::new(
                "invalid_request",
                "missing parameter \"grant_type\"",
            )
            .into()));
        }
    };
    let mut endpoint = StoreEndpoint::new(conn, ctx);
    endpoint.grant_type = Some(grant_type);
    let flow_error = match grant_type {
        "authorization_code" => at::access_token(&mut endpoint, params)
            .err()
            .map(access_token_refusal),
        _ => {
            // oxide-auth authenticates a client without a secret only after finding the
            // token; authenticate first, as for every other request (RFC 6749 §6).
            let public_id = params
                .credentials
                .as_ref()
                .filter(|c| c.secret.is_none())
                .map(|c| c.client_id.clone());
            match &public_id {
                Some(id) if Registrar::check(&endpoint, id, None).is_err() => {
                    Some(Refusal::new("invalid_client", describe("invalid_client")))
                }
                _ => {
                    endpoint.presented_client_id = public_id;
                    rf::refresh(&mut endpoint, params)
                        .err()
                        .map(refresh_refusal)
                }
            }
        }
    };
    if let Some(e) = endpoint.store_error.take() {
        return Err(e);
    }
    let issued = match flow_error {
        None => endpoint
            .issued
            .take()
            .ok_or_else(|| StoreError::Unavailable("the flow issued nothing".into()))?,
        Some(oxide) => {
            // Our own reason is more precise than oxide-auth's generic one.
            let refusal = match endpoint.failure.take() {
                Some(f) => Refusal::new(f.error, f.description),
                None => oxide,
            };
            return Ok(Err(Refused {
                refusal,
                revoked_family: endpoint.revoked_family.get(),
            }));
        }
    };
    let access_token = ctx.signer.sign(&issued.claims).map_err(|e| {
        tracing::error!(cause = %e, "cannot sign an access token");
        StoreError::Unavailable(e.to_string())
    })?;
    Ok(Ok(Tokens {
        access_token,
        refresh_token: issued.refresh_token,
        scope: issued.scope,
        expires_in: issued.expires_in,
    }))
}

/// A refused token request, and whether refusing it revoked a token family (a replayed
/// code or refresh token), which cached check decisions must not outlive.
pub struct Refused {
    pub refusal: Refusal,
    pub revoked_family: bool,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Refused {
            refusal,
            revoked_family: false,
        }
    }
}

fn error_name(kind: AccessTokenErrorType) -> &'static str {
    match kind {
        AccessTokenErrorType::InvalidRequest => "invalid_request",
        AccessTokenErrorType::InvalidClient => "invalid_client",
        AccessTokenErrorType::InvalidGrant => "invalid_grant",
        AccessTokenErrorType::UnauthorizedClient => "unauthorized_client",
        AccessTokenErrorType::UnsupportedGrantType => "unsupported_grant_type",
        AccessTokenErrorType::InvalidScope => "invalid_scope",
    }
}

fn describe(error: &'static str) -> &'static str {
    match error {
        "invalid_client" => "client authentication failed",
        "invalid_grant" => {
            "the grant is invalid, expired, or was issued to another client or redirect URI"
        }
        "invalid_scope" => "the requested scope exceeds what was granted",
        "unsupported_grant_type" => "grant_type must be authorization_code or refresh_token",
        _ => "the request is missing a required parameter or is malformed",
    }
}

fn access_token_refusal(mut e: at::Error) -> Refusal {
    match e.description() {
        Some(d) => {
            let name = error_name(d.kind());
            Refusal::new(name, describe(name))
        }
        None => Refusal::new("server_error", "the token could not be issued"),
    }
}

fn refresh_refusal(mut e: rf::Error) -> Refusal {
    match e.description() {
        Some(d) => {
            let name = error_name(d.kind());
            Refusal::new(name, describe(name))
        }
        None => Refusal::new("server_error", "the token could not be issued"),
    }
}
