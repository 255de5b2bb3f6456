//! Every error answer Tessera sends, and the map from each layer's errors to them.
//!
//! # Taxonomy
//!
//! | layer | returns | becomes |
//! |---|---|---|
//! | `store` | [`StoreError`]: `NotFound`, `Conflict`, `Unavailable`, `Query` | 404, 409, 503, 500 under `/v1/orgs`; at the OAuth endpoints 503 `temporarily_unavailable` for `Unavailable`, 500 `server_error` otherwise; on `/v1/check` and the authorization pages any store failure is 503 (fail closed: never a guess) |
//! | `admin`, `integrations` | [`AdminError`]: `Invalid`, `NotFound`, `Conflict`, `Store`, `Internal`, `PlanUpgradeRequired` | 422, 404, 409, as the store error, 500, 403 `plan_upgrade_required` |
//! | `access::caller` | [`CallerRefusal`] | 401 (`invalid_token` challenge), 404, 403 (`insufficient_scope`), 403 |
//! | `access::checker` | a verdict, not an error | 401 / 403 on `/v1/check`, `active: false` on introspection |
//! | `oauth` | [`Refusal`]: an [`OAuthError`] code and a description; a store failure as [`StoreError`] (a signing key that cannot be used, or a stored row that cannot be read, is reported as `Unavailable`) | 400; 401 for `invalid_client`; 500 for `server_error`; 503 for `temporarily_unavailable` |
//! | this layer | body too large, unreadable, wrong content type, no such route, a method the path does not answer | 413, 400, 415 (`/v1`; the OAuth endpoints answer 400 `invalid_request`, RFC 6749 §5.2), 404, 405 with `Allow` |
//!
//! Each URL answers in one shape, whatever failed:
//! - `/v1/…` and the operations endpoints: `{"error": {"code", "message"}}` ([`ApiError`]);
//! - `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`: RFC 6749 §5.2's `{"error",
//!   "error_description"}` ([`oauth_error`]) — including a store outage, which is
//!   `temporarily_unavailable`;
//! - `/oauth/authorize` and `/oauth/login`: an HTML page ([`error_page`]) when the error must not
//!   be redirected to the client.
//!
//! Every 503 and 429 carries `Retry-After`. Every error answer is `Cache-Control: no-store`.
//!
//! What is logged: a store outage at `warn` with its cause, an unexpected database error or
//! internal failure at `error` with its cause (on `/v1/check` and the authorization pages,
//! every store failure at `warn`); refusals of bad input are not logged (the access
//! log has the status). What the client sees: the code and a message written for it — never a
//! cause chain, a query, or a secret.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use serde_json::json;

use crate::access::caller::CallerRefusal;
use crate::admin::AdminError;
use crate::oauth::authorize::Stop;
use crate::oauth::errors::{OAuthError, Refusal};
use crate::store::StoreError;

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Headers every error answer carries: never cached, and a 503 or 429 says when to come back.
fn error_headers(res: &mut HttpResponseBuilder, status: StatusCode) {
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        res.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
    }
}

/// An error in the `/v1` envelope: `{"error": {"code", "message", …}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Extra members of the error object (e.g. `required_scope`).
    pub(crate) extra: Option<(&'static str, String)>,
    pub(crate) www_authenticate: Option<String>,
    /// Seconds for `Retry-After` (a 429 or 503 without one says 1).
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
            www_authenticate: None,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database cannot answer right now; try again",
        )
    }

    /// 429 (RFC 6585 §4), with `Retry-After`.
    pub(crate) fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
    }

    /// 429 from a rate limit: `Retry-After` says how long until the caller may try again.
    pub(crate) fn rate_limited(wait: std::time::Duration) -> Self {
        ApiError {
            retry_after: Some(
                u32::try_from(crate::limits::retry_after_secs(wait)).unwrap_or(u32::MAX),
            ),
            ..Self::too_many_requests(
                "too many requests; slow down and retry after the time Retry-After gives",
            )
        }
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// 401 with the RFC 6750 §3 challenge: plain `Bearer` when no token came (§3.1),
    /// `invalid_token` otherwise.
    pub(crate) fn unauthorized(message: &str, token_given: bool) -> Self {
        let challenge = if token_given {
            r#"Bearer realm="tessera", error="invalid_token""#
        } else {
            r#"Bearer realm="tessera""#
        };
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            .with_www_authenticate(challenge)
    }

    /// 403 `forbidden_scope` naming the scope, with RFC 6750 §3.1's `insufficient_scope`.
    pub(crate) fn forbidden_scope(scope: &str) -> Self {
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

    pub(crate) fn with_www_authenticate(mut self, value: impl Into<String>) -> Self {
        self.www_authenticate = Some(value.into());
        self
    }

    pub(crate) fn with_extra(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.extra = Some((key, value.into()));
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some((key, value)) = &self.extra {
            error[*key] = json!(value);
        }
        let mut res = HttpResponse::build(self.status);
        error_headers(&mut res, self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(value) = &self.www_authenticate {
            if let Ok(v) = HeaderValue::from_str(value) {
                res.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        res.json(json!({ "error": error }))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "already exists")
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ApiError::unavailable()
            }
            StoreError::Query(cause) => {
                tracing::error!(%cause, "database error");
                ApiError::internal()
            }
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(invalid) => ApiError::unprocessable(invalid.to_string()),
            AdminError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            AdminError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            AdminError::Forbidden(message) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            AdminError::Store(e) => e.into(),
            AdminError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::internal()
            }
            refused @ AdminError::PlanUpgradeRequired { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "plan_upgrade_required",
                refused.to_string(),
            ),
        }
    }
}

impl From<CallerRefusal> for ApiError {
    fn from(refusal: CallerRefusal) -> Self {
        match refusal {
            CallerRefusal::InvalidToken => {
                ApiError::unauthorized("the access token is invalid, expired or revoked", true)
            }
            CallerRefusal::OrgNotFound(org) => {
                ApiError::not_found(format!("organization {org:?} not found"))
            }
            CallerRefusal::MissingScope(scope) => ApiError::forbidden_scope(scope),
            CallerRefusal::RoleTooLow { min_role, org } => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the role {min_role} or higher in {org}"),
            ),
        }
    }
}

/// Turns actix's own extractor failures (bad JSON, oversize bodies, bad paths) into the
/// envelope, so that `/v1` never answers in another shape.
pub(crate) fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => payload_too_large(),
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        ),
        E::Deserialize(e) => ApiError::bad_request(format!("invalid JSON body: {e}")),
        E::Payload(p) if super::shutdown::is_timeout(p) => request_timeout(),
        _ => ApiError::bad_request("invalid JSON body"),
    };
    api.into()
}

/// 408: the request body stalled (`TESSERA_BODY_TIMEOUT`).
pub(crate) fn request_timeout() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body did not arrive in time",
    )
}

pub(crate) fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "request body is too large",
    )
}

pub(crate) fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::not_found(format!("no such resource: {err}")).into()
}

pub(crate) fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request(format!("invalid query string: {err}")).into()
}

/// Every unknown route answers in the envelope too.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// A request whose path or query holds a control character (see `web::input`): 400 in the
/// envelope of the endpoint it was sent to.
pub(crate) fn control_characters(path: &str) -> HttpResponse {
    const MESSAGE: &str = "the request holds a control character, which no parameter may";
    if path.starts_with("/oauth/authorize") || path.starts_with("/oauth/log") {
        bad_request_page("The request holds a control character, which no parameter may.")
    } else if path.starts_with("/oauth/") {
        oauth_error(&Refusal::invalid_request(MESSAGE))
    } else {
        ApiError::bad_request(MESSAGE).error_response()
    }
}

/// A known path asked with a method it does not answer: 405 with `Allow` (RFC 9110 §15.5.6).
pub(crate) fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut res = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this resource answers {allow}"),
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, value);
    }
    res
}

/// `/readyz` when the database does not answer: the envelope, beside the probe's `status`.
pub(crate) fn not_ready() -> HttpResponse {
    let mut res = HttpResponse::ServiceUnavailable();
    error_headers(&mut res, StatusCode::SERVICE_UNAVAILABLE);
    res.json(json!({
        "status": "unavailable",
        "error": { "code": "unavailable", "message": "the database does not answer" }
    }))
}

/// An RFC 6749 §5.2 error answer (also RFC 7009 §2.2.1 and RFC 7662 §2.3).
pub(crate) fn oauth_error(refusal: &Refusal) -> HttpResponse {
    let status = match refusal.error {
        OAuthError::InvalidClient => StatusCode::UNAUTHORIZED,
        OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    };
    oauth_error_with_status(refusal, status)
}

fn oauth_error_with_status(refusal: &Refusal, status: StatusCode) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    error_headers(&mut res, status);
    // §5.1: token-endpoint answers are never cached, by HTTP/1.0 caches either.
    res.insert_header((header::PRAGMA, "no-cache"));
    if let Some(wait) = refusal.retry_after {
        res.insert_header((
            header::RETRY_AFTER,
            crate::limits::retry_after_secs(wait).to_string(),
        ));
    }
    // §5.2: a client that used Basic must get 401 with a Basic challenge; one that sent its
    // secret in the body gets the same, which tells it which scheme is supported (a 401 always
    // carries WWW-Authenticate, RFC 9110 §15.5.2).
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="tessera""#));
    }
    res.json(json!({ "error": refusal.error.as_str(), "error_description": refusal.description }))
}

/// The OAuth endpoints' answer when the store failed: 503 `temporarily_unavailable` when the
/// database cannot answer (or the signing key cannot be used), 500 `server_error` for anything
/// unexpected.
pub(crate) fn oauth_unavailable(cause: &StoreError) -> HttpResponse {
    if let StoreError::Unavailable(_) = cause {
        tracing::warn!(%cause, "an OAuth request failed on the store");
        return oauth_error(&Refusal::new(
            OAuthError::TemporarilyUnavailable,
            "the database cannot answer right now; try again",
        ));
    }
    tracing::error!(%cause, "an OAuth request failed on the store");
    oauth_error(&Refusal::new(
        OAuthError::ServerError,
        "the request could not be completed",
    ))
}

/// A body over the limit at an OAuth endpoint: 413 in the RFC 6749 shape.
pub(crate) fn oauth_payload_too_large() -> HttpResponse {
    oauth_error_with_status(
        &Refusal::invalid_request("the request body is too large"),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

/// A stalled body at an OAuth endpoint: 408 in the RFC 6749 shape.
pub(crate) fn oauth_request_timeout() -> HttpResponse {
    oauth_error_with_status(
        &Refusal::invalid_request("the request body did not arrive in time"),
        StatusCode::REQUEST_TIMEOUT,
    )
}

/// An HTML error page for the authorization pages: errors that must not be redirected.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let mut res = super::pages::error(status, title, message);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    res
}

/// The authorization endpoint's refusals that are shown, not redirected.
pub(crate) fn stop_page(stop: Stop) -> HttpResponse {
    match stop {
        Stop::UnknownClientOrRedirect => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid authorization request",
            "The application is unknown, or the redirect URI is not registered for it. \
             Nothing was sent back to the application.",
        ),
        Stop::ConsentFormExpired => error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This consent form is no longer valid. Go back to the application and start again.",
        ),
        Stop::InvalidOrganization => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid organization",
            "Choose one of your organizations.",
        ),
    }
}

pub(crate) fn bad_request_page(message: &str) -> HttpResponse {
    error_page(StatusCode::BAD_REQUEST, "Invalid request", message)
}

/// The authorization pages' answer when the store cannot be asked.
pub(crate) fn unavailable_page(cause: &StoreError) -> HttpResponse {
    tracing::warn!(%cause, "an authorization page failed on the store");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The service cannot answer right now. Please try again in a moment.",
    )
}
