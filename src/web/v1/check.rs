//! `GET|POST /v1/check`: may this bearer do what it asks? For API gateways (nginx
//! `auth_request`, Envoy ext_authz) and resource servers.
//!
//! 200 with the principal (JSON and `X-Auth-*` headers), 401 `unauthorized` (RFC 6750
//! `invalid_token`, or a bare challenge when no token came), 403 `forbidden_scope`
//! (`insufficient_scope`), or 503 `unavailable` when the store cannot answer and nothing is
//! cached — never a guess. The decision is [`crate::access::checker`]'s.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use crate::access::checker::Verdict;
use crate::telemetry::metrics::{self, CheckOutcome, CheckToken};
use crate::web::bearer::bearer;
use crate::web::client_ip::client_ip;
use crate::web::error::ApiError;
use crate::web::state::AppState;

#[derive(Deserialize)]
pub(crate) struct CheckQuery {
    /// For integrations that cannot set headers. Discouraged: URLs end up in logs.
    api_key: Option<String>,
    scope: Option<String>,
}

pub(crate) async fn check(
    req: HttpRequest,
    query: web::Query<CheckQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = match bearer(&req) {
        Ok(Some(t)) => Some(t),
        Ok(None) => query.api_key.as_deref().filter(|k| !k.is_empty()),
        Err(e) => return counted(CheckToken::Unknown, e.error_response()),
    };
    let Some(token) = token else {
        let refused = ApiError::unauthorized("a bearer token is required", false);
        return counted(CheckToken::None, refused.error_response());
    };
    let required: Vec<&str> = req
        .headers()
        .get("x-required-scope")
        .and_then(|v| v.to_str().ok())
        .or(query.scope.as_deref())
        .unwrap_or("")
        .split_ascii_whitespace()
        .collect();
    let decision = match state.checker.lookup(token).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(cause = %e, "check cannot reach the store");
            let token = state.checker.token_kind(token);
            return counted(token, ApiError::unavailable().error_response());
        }
    };
    let ip = client_ip(&req, &state.config.trusted_proxies);
    match state.checker.verdict(decision, ip, &required) {
        Verdict::Allow(d) => {
            let mut res = HttpResponse::Ok();
            res.content_type("application/json")
                .insert_header((header::CACHE_CONTROL, "no-store"));
            for (name, value) in &d.headers {
                // Rendered as visible ASCII by the checker: always a valid value.
                if let Ok(value) = HeaderValue::from_maybe_shared(value.clone()) {
                    res.insert_header((HeaderName::from_static(name), value));
                }
            }
            res.body(d.body.clone())
        }
        Verdict::Unauthorized { token_given } => ApiError::unauthorized(
            "the token is invalid, expired, revoked or not usable from here",
            token_given,
        )
        .error_response(),
        Verdict::ForbiddenScope { missing } => ApiError::forbidden_scope(&missing).error_response(),
    }
}

/// A refusal made before the checker's verdict (which counts its own), counted by its status.
fn counted(token: CheckToken, res: HttpResponse) -> HttpResponse {
    let outcome = if res.status().is_server_error() {
        CheckOutcome::Unavailable
    } else {
        CheckOutcome::Unauthorized
    };
    metrics::check_decision(outcome, token);
    res
}
