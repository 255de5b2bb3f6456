//! The OAuth error codes Tessera answers with, and a refusal: a code with its description.
//!
//! The domain decides *which* error (RFC 6749 §4.1.2.1 at the authorization endpoint, §5.2 at
//! the token endpoint, RFC 7009 §2.2.1, RFC 7662 §2.3); the HTTP layer alone decides the
//! status and headers each one is sent with.

use std::borrow::Cow;

/// Error codes of RFC 6749 (§4.1.2.1, §5.2), RFC 6750 §3.1 and OpenID Connect's `prompt=none`
/// answers (Core §3.1.2.6), which OAuth clients widely understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OAuthError {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    /// Not an RFC 6749 code (§8.5 allows extensions): too many failed client authentications
    /// from this address or for this client; sent with 429 and `Retry-After`.
    TooManyRequests,
}

impl OAuthError {
    /// The code as written on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::AccessDenied => "access_denied",
            OAuthError::UnsupportedResponseType => "unsupported_response_type",
            OAuthError::ServerError => "server_error",
            OAuthError::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthError::LoginRequired => "login_required",
            OAuthError::ConsentRequired => "consent_required",
            OAuthError::TooManyRequests => "too_many_requests",
        }
    }
}

/// A refused OAuth request: the error code and a description for the developer reading it
/// (`error_description`, RFC 6749 §5.2). Descriptions never carry a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) error: OAuthError,
    pub(crate) description: Cow<'static, str>,
    /// For [`OAuthError::TooManyRequests`]: how long to wait (`Retry-After`).
    pub(crate) retry_after: Option<std::time::Duration>,
}

impl Refusal {
    pub(crate) fn new(error: OAuthError, description: impl Into<Cow<'static, str>>) -> Self {
        Refusal {
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    /// Too many failed client authentications: wait `retry_after`.
    pub(crate) fn too_many_failures(retry_after: std::time::Duration) -> Self {
        Refusal {
            retry_after: Some(retry_after),
            ..Refusal::new(
                OAuthError::TooManyRequests,
                "too many failed client authentications; try again later",
            )
        }
    }

    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Refusal::new(OAuthError::InvalidRequest, description)
    }

    /// RFC 6749 §5.2 `invalid_client`: the same words whatever failed, so that the answer does
    /// not tell which client ids exist.
    pub(crate) fn invalid_client() -> Self {
        Refusal::new(OAuthError::InvalidClient, "client authentication failed")
    }

    pub(crate) fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Refusal::new(OAuthError::InvalidGrant, description)
    }
}
