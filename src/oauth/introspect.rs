//! Introspection's answer (RFC 7662 §2.2): what an active token is, or exactly
//! `{"active": false}` whatever the reason, so the endpoint reveals nothing about tokens that
//! are not alive.
//!
//! `token_type` is the RFC 6749 §7.1 type of a token used as an access token: `Bearer` for
//! access tokens and integration tokens; a refresh token is not used that way and has none.
//! What kind of Tessera token it is stands in `token_kind`: `access_token`, `refresh_token` or
//! `integration_token`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Principal, TokenKind};

/// RFC 7662 §2.2's answer. Every member but `active` is absent for a token that is not alive.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Introspection {
    pub(crate) active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) token_kind: Option<TokenKind>,
    /// Space-separated scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) scope: Option<String>,
    /// The user, or the integration (`integration:<id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) sub: Option<String>,
    /// The organization's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) iss: Option<String>,
    /// `Bearer`; absent for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<String>)]
    pub(crate) token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) integration_id: Option<String>,
    /// Seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) exp: Option<i64>,
    /// Seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) iat: Option<i64>,
}

/// The response body for a token that is `principal` (or is not alive), issued by `issuer`.
pub(crate) fn describe(principal: Option<&Principal>, issuer: &str) -> Introspection {
    let Some(p) = principal else {
        return Introspection {
            active: false,
            token_kind: None,
            scope: None,
            sub: None,
            org: None,
            iss: None,
            token_type: None,
            client_id: None,
            integration_id: None,
            exp: None,
            iat: None,
        };
    };
    Introspection {
        active: true,
        token_kind: Some(p.kind),
        scope: Some(p.scopes.join(" ")),
        sub: Some(p.sub.clone()),
        org: Some(p.org.clone()),
        iss: Some(issuer.to_string()),
        token_type: (p.kind != TokenKind::RefreshToken).then_some("Bearer"),
        client_id: p.client_id.clone(),
        integration_id: p.integration_id.clone(),
        exp: p.exp,
        iat: p.iat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_token_is_exactly_active_false() {
        let body = serde_json::to_value(describe(None, "https://issuer")).unwrap();
        assert_eq!(body, serde_json::json!({ "active": false }));
    }
}
