//! Introspection's answer (RFC 7662 §2.2): what an active token is, or exactly
//! `{"active": false}` whatever the reason, so the endpoint reveals nothing about tokens that
//! are not alive.
//!
//! `token_type` is the RFC 6749 §7.1 type of a token used as an access token: `Bearer` for
//! access tokens and integration tokens; a refresh token is not used that way and has none.
//! What kind of Tessera token it is stands in `token_kind`: `access_token`, `refresh_token` or
//! `integration_token`.

use serde_json::{Value, json};

use crate::access::{Principal, TokenKind};

/// The response body for a token that is `principal` (or is not alive), issued by `issuer`.
pub(crate) fn describe(principal: Option<&Principal>, issuer: &str) -> Value {
    let Some(p) = principal else {
        return json!({ "active": false });
    };
    let mut body = json!({
        "active": true,
        "token_kind": p.kind,
        "scope": p.scopes.join(" "),
        "sub": p.sub,
        "org": p.org,
        "iss": issuer,
    });
    if p.kind != TokenKind::RefreshToken {
        body["token_type"] = json!("Bearer");
    }
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
