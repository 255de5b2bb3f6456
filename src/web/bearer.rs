//! The bearer token of a request (RFC 6750 §2.1: `Authorization: Bearer <token>`).

use actix_web::HttpRequest;
use actix_web::http::header;

use super::error::ApiError;

/// The token of an `Authorization: Bearer` header, `None` without the header, and a 401 with
/// the `invalid_token` challenge for a header of another shape.
pub(crate) fn bearer(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header", true))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
            true,
        )),
    }
}
