//! `POST /oauth/introspect` (RFC 7662): any confidential client may ask whether a Tessera
//! token is active. Inactive tokens answer exactly `{"active": false}` (§2.2), whatever the
//! reason, so the endpoint reveals nothing about tokens that are not alive.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::errors::{Refusal, no_store};
use super::params::{BadRequest, Params};
use super::{client_auth, read_body};
use crate::access::{self, Principal};
use crate::http::AppState;

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let body = match read_body(payload).await {
        Ok(b) => b,
        Err(refusal) => return refusal.response(),
    };
    let params = match Params::parse(&req, &body) {
        Ok(p) => p,
        Err(BadRequest(m)) => return Refusal::new("invalid_request", m).response(),
    };
    let ctx = state.oauth.clone();
    let usage = state.usage.clone();
    let outcome = state
        .db
        .run(
            move |conn| -> Result<Result<Option<Principal>, Refusal>, crate::store::StoreError> {
                if let Err(refusal) =
                    client_auth::authenticate(conn, &ctx, params.credentials.as_ref(), true)?
                {
                    return Ok(Err(refusal));
                }
                let Some(token) = params.get("token") else {
                    return Ok(Err(Refusal::new(
                        "invalid_request",
                        "missing parameter \"token\"",
                    )));
                };
                // token_type_hint (§2.1) only speeds look-ups up; every kind is tried regardless.
                let principal =
                    access::identify(conn, &ctx.signer, &ctx.config.token_brand, &usage, token)?
                        .ok();
                // A resource server asking about an integration token is a use of it (the
                // inactivity rule must not expire tokens that are checked this way).
                if let Some(id) = principal.as_ref().and_then(|p| p.token_id) {
                    usage.record(id, None);
                }
                Ok(Ok(principal))
            },
        )
        .await;
    match outcome {
        Ok(Ok(principal)) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.json(describe(principal.as_ref(), &state.config.issuer))
        }
        Ok(Err(refusal)) => refusal.response(),
        Err(e) => {
            tracing::warn!(cause = %e, "introspection failed on the store");
            Refusal::unavailable().response()
        }
    }
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
