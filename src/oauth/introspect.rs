//! `POST /oauth/introspect` (RFC 7662): any confidential client may ask whether a Tessera
//! token is active. Inactive tokens answer exactly `{"active": false}` (§2.2), whatever the
//! reason, so the endpoint reveals nothing about tokens that are not alive.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::client_auth;
use super::errors::{Refusal, no_store};
use super::params::Params;
use crate::access::Principal;
use crate::http::AppState;
use crate::http::error::ApiError;

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match Params::read(&req, payload).await {
        Ok(p) => p,
        Err(refusal) => return refusal.response(),
    };
    let ctx = state.oauth.clone();
    let authenticated = state
        .db
        .run(move |conn| {
            client_auth::authenticate(conn, &ctx, params.credentials.as_ref(), true)
                .map(|r| r.map(|_| params))
        })
        .await;
    let params = match authenticated {
        Ok(Ok(params)) => params,
        Ok(Err(refusal)) => return refusal.response(),
        Err(e) => return unavailable(&e),
    };
    let Some(token) = params.get("token") else {
        return Refusal::new("invalid_request", "missing parameter \"token\"").response();
    };
    // token_type_hint (§2.1) is not needed: the token's own shape says what it is.
    let decision = match state.checker.lookup(token).await {
        Ok(d) => d,
        Err(e) => return unavailable(&e),
    };
    let principal = decision.result.as_ref().ok();
    // A resource server asking about an integration token is a use of it (the inactivity
    // rule must not expire tokens that are only ever checked this way).
    if let Some(id) = principal.and_then(|p| p.token_id) {
        state.checker.usage().record(id, None);
    }
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    res.json(describe(principal, &state.config.issuer))
}

/// Fails closed: a token that may well be active is never reported inactive because the
/// store could not be asked.
fn unavailable(e: &crate::store::StoreError) -> HttpResponse {
    tracing::warn!(cause = %e, "introspection cannot reach the store");
    actix_web::ResponseError::error_response(&ApiError::unavailable())
}

pub fn describe(principal: Option<&Principal>, issuer: &str) -> Value {
    let Some(p) = principal else {
        return json!({ "active": false });
    };
    let mut body = json!({
        "active": true,
        "token_type": p.kind,
        "scope": p.scopes.join(" "),
        "sub": p.sub,
        "org": p.org,
        "iss": issuer,
    });
    if let Some(c) = &p.client_id {
        body["client_id"] = json!(c);
    }
    if let Some(i) = &p.integration_id {
        body["integration_id"] = json!(i);
    }
    if let Some(exp) = p.exp {
        body["exp"] = json!(exp);
    }
    if let Some(iat) = p.iat {
        body["iat"] = json!(iat);
    }
    body
}
