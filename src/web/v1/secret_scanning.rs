//! `POST /v1/secret-scanning/github`: GitHub's secret-scanning partner reports
//! ([`crate::leaks`]). Unsigned or badly signed reports get 401 and change nothing; a report
//! that is not a JSON array of matches gets 422; the answer is GitHub's feedback array.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::leaks;
use crate::limits::address_key;
use crate::store::audit::Actor;
use crate::web::body::{BodyError, read_bounded};
use crate::web::client_ip::client_ip;
use crate::web::error::{ApiError, payload_too_large, request_timeout};
use crate::web::state::AppState;

/// A GitHub secret-scanning partner report: every reported Tessera token is revoked, in one
/// transaction; the answer labels each match.
#[utoipa::path(
    post,
    path = "/v1/secret-scanning/github",
    operation_id = "github_secret_scanning",
    tag = "leaks",
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "The id of GitHub's key that signed the report."),
        ("Github-Public-Key-Signature" = String, Header, description = "The base64 ECDSA signature of the body."),
    ),
    request_body(content = Vec<crate::web::openapi::shapes::ReportedSecret>,
        description = "The matches (at most 1000); the exact bytes are what is signed."),
    responses(
        (status = 200, description = "GitHub's feedback: one label per match.", body = Vec<crate::leaks::Feedback>),
        (status = 400, description = "The body cannot be read.", body = crate::web::openapi::shapes::ApiErrorBody),
        (status = 401, description = "Unsigned, or not signed by a current GitHub key: nothing changed.",
            body = crate::web::openapi::shapes::ApiErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tessera\"`."))),
        (status = 413, description = "The report is over the limit.", body = crate::web::openapi::shapes::ApiErrorBody),
        (status = 422, description = "Signed, but not a JSON array of matches.", body = crate::web::openapi::shapes::ApiErrorBody),
        (status = 429, description = "Too many requests.", body = crate::web::openapi::shapes::ApiErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again."))),
        (status = 500, description = "An unexpected failure.", body = crate::web::openapi::shapes::ApiErrorBody),
        (status = 503, description = "The database cannot answer right now.", body = crate::web::openapi::shapes::ApiErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again."))),
    ),
)]
pub(crate) async fn github(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let source = client_ip(&req, &state.config.trusted_proxies);
    let key = source.map(address_key);
    if let Some(wait) = key.and_then(|k| state.secret_scanning_failures.blocked(&k)) {
        return Err(ApiError::rate_limited(wait));
    }
    let body = match read_bounded(payload, leaks::REPORT_LIMIT).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Err(payload_too_large()),
        Err(BodyError::TimedOut) => return Err(request_timeout()),
        Err(BodyError::Unreadable) => {
            return Err(ApiError::bad_request("the request body could not be read"));
        }
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (key_id, signature) = (
        header("github-public-key-identifier"),
        header("github-public-key-signature"),
    );
    // The key file may be read again: blocking work.
    let keys = state.scanning_keys.clone();
    let signed = body.clone();
    tokio::task::spawn_blocking(move || {
        keys.verify(key_id.as_deref(), signature.as_deref(), &signed)
    })
    .await
    .map_err(|_| ApiError::unavailable())?
    .map_err(|e| {
        // Only reports that do not verify are limited: a verified one revokes leaked tokens.
        match key.and_then(|k| state.secret_scanning_failures.failed(&k)) {
            Some(wait) => ApiError::rate_limited(wait),
            None => ApiError::unauthorized(&format!("unverified report: {e}"), false),
        }
    })?;
    let matches = leaks::parse_report(&body).map_err(ApiError::unprocessable)?;
    let reporter = Actor {
        label: "github-secret-scanning".into(),
        user_id: None,
        ip: source.map(|ip| ip.to_string()),
    };
    let brand = state.config.token_brand.clone();
    let feedback = state
        .db
        .run(move |conn| leaks::process(conn, &brand, &reporter, &matches))
        .await?;
    // Cached check decisions of the revoked tokens must not be served any more.
    state.checker.invalidate();
    state.webhook_waker.wake();
    Ok(HttpResponse::Ok().json(feedback))
}
