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
use utoipa::IntoParams;

use crate::access::checker::Verdict;
use crate::telemetry::metrics::{self, CheckOutcome, CheckToken};
use crate::web::bearer::bearer;
use crate::web::client_ip::client_ip;
use crate::web::error::ApiError;
use crate::web::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CheckQuery {
    /// The token, for integrations that cannot set headers (the `api_key` security scheme).
    /// Discouraged: URLs end up in logs. A bearer token, when one came, wins.
    #[param(nullable = false)]
    api_key: Option<String>,
    /// Space-separated scopes the token must hold (or the `X-Required-Scope` header).
    #[param(nullable = false)]
    scope: Option<String>,
}

/// May this bearer do what it asks? 200 with the principal, 401 or 403 — the same for GET and
/// POST (whose body is not read).
#[utoipa::path(
    method(get, post),
    path = "/v1/check",
    operation_id = "check",
    tag = "gateway",
    params(
        CheckQuery,
        ("X-Required-Scope" = Option<String>, Header,
            description = "Space-separated scopes the token must hold; wins over `scope`."),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Allowed: the principal, also in `X-Auth-*` headers.",
            body = crate::access::checker::Allowed,
            headers(
                ("X-Auth-Subject" = String, description = "`sub`."),
                ("X-Auth-Org" = String, description = "The organization's slug."),
                ("X-Auth-Scope" = String, description = "Space-separated scopes."),
                ("X-Auth-Token-Type" = String,
                    description = "`access_token`, `refresh_token` or `integration_token`."),
                ("X-Auth-Client-Id" = String, description = "The OAuth client, for access tokens."),
                ("X-Auth-Integration-Id" = String, description = "The integration, for its tokens."),
            )),
        (status = 400, description = "The query string cannot be read, or holds a control character.",
            body = crate::web::openapi::shapes::ApiErrorBody),
        (status = 401, description = "No token, or one that is invalid, expired, revoked or not usable \
            from this address (RFC 6750 §3.1).", body = crate::web::openapi::shapes::ApiErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tessera\"`, with \
                `error=\"invalid_token\"` when a token came."))),
        (status = 403, description = "`forbidden_scope`: the token lacks a required scope \
            (`insufficient_scope`).", body = crate::web::openapi::shapes::ApiErrorBody,
            headers(("WWW-Authenticate" = String, description = "`error=\"insufficient_scope\"`."))),
        (status = 503, description = "The store cannot answer and nothing is cached: never a guess.",
            body = crate::web::openapi::shapes::ApiErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again."))),
    ),
)]
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
