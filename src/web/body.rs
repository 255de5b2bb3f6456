//! Request bodies: the limits, bounded reading, and the parameters of the OAuth endpoints.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::{self, ApiError};
use crate::oauth::errors::Refusal;
use crate::oauth::params::Params;

/// Management requests are small JSON objects; anything bigger is refused before it is read.
pub(crate) const JSON_LIMIT: usize = 64 * 1024;
/// OAuth requests (forms, or JSON at the token endpoint) are smaller still.
pub(crate) const FORM_LIMIT: usize = 16 * 1024;

/// Why a body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Unreadable,
    /// The body stalled past `TESSERA_BODY_TIMEOUT` (see `web::shutdown`).
    TimedOut,
}

/// Reads a request body up to [`FORM_LIMIT`], stopping as soon as it is over.
pub(crate) async fn read_form(payload: web::Payload) -> Result<web::Bytes, BodyError> {
    read_bounded(payload, FORM_LIMIT).await
}

/// Reads a request body up to `limit` bytes, stopping as soon as it is over: for bodies whose
/// exact bytes matter (a signed report) or whose limit differs from the route table's.
pub(crate) async fn read_bounded(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, BodyError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if super::shutdown::is_timeout(&e) {
                BodyError::TimedOut
            } else {
                BodyError::Unreadable
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// What every token-endpoint-style handler does first: reads the body (bounded) and parses it
/// with the client's credentials (RFC 6749 §2.3.1). A problem is the RFC 6749 error to answer.
pub(crate) async fn oauth_params(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Params, HttpResponse> {
    let body = match read_form(payload).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Err(error::oauth_payload_too_large()),
        Err(BodyError::TimedOut) => return Err(error::oauth_request_timeout()),
        Err(BodyError::Unreadable) => {
            return Err(error::oauth_error(&Refusal::invalid_request(
                "the request body could not be read",
            )));
        }
    };
    let header = |name: header::HeaderName| {
        req.headers()
            .get(&name)
            .map(|v| v.to_str().map_err(|_| name.clone()))
            .transpose()
    };
    let malformed = |name: header::HeaderName| {
        error::oauth_error(&Refusal::invalid_request(format!(
            "malformed {name} header"
        )))
    };
    let content_type = header(header::CONTENT_TYPE).map_err(malformed)?;
    let authorization = header(header::AUTHORIZATION).map_err(malformed)?;
    Params::parse(content_type, authorization, &body)
        .map_err(|bad| error::oauth_error(&Refusal::from(bad)))
}

/// A JSON body that may be omitted, or be `null` (`POST …/rotate` with no options), as the
/// OpenAPI document says.
pub(crate) fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<Option<T>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
