//! The `/v1` error envelope, `{"error": {"code", "message"}}`, and the one place where domain
//! errors become HTTP statuses. (OAuth endpoints answer RFC 6749 errors; see `oauth::errors`.)

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::admin::AdminError;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra members of the error object (e.g. `required_scope`).
    pub extra: Option<(&'static str, String)>,
    pub www_authenticate: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
            www_authenticate: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database cannot answer right now; try again",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    pub fn with_www_authenticate(mut self, value: impl Into<String>) -> Self {
        self.www_authenticate = Some(value.into());
        self
    }

    pub fn with_extra(mut self, key: &'static str, value: impl Into<String>) -> Self {
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
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
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
            AdminError::Store(e) => e.into(),
            AdminError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::internal()
            }
        }
    }
}

/// Turns actix's own extractor failures (bad JSON, oversize bodies, bad paths) into the
/// envelope, so that `/v1` never answers in another shape.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is too large",
        ),
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        ),
        E::Deserialize(e) => ApiError::bad_request(format!("invalid JSON body: {e}")),
        _ => ApiError::bad_request("invalid JSON body"),
    };
    api.into()
}

pub fn path_error(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::not_found(format!("no such resource: {err}")).into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request(format!("invalid query string: {err}")).into()
}

/// Every unknown route answers in the envelope too.
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.path())).error_response()
}
