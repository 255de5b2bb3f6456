//! Discovery (RFC 8414) and the public signing keys (JWKS).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::cors;
use super::error::ApiError;
use super::paths::{AUTHORIZE_PATH, INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH};
use super::state::AppState;
use crate::store::scopes::ScopeDef;

pub(crate) async fn metadata(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let scopes = state.db.run(ScopeDef::list).await?;
    let c = &state.config;
    let body = json!({
        "issuer": c.issuer,
        "authorization_endpoint": c.url(AUTHORIZE_PATH),
        "token_endpoint": c.url(TOKEN_PATH),
        "revocation_endpoint": c.url(REVOKE_PATH),
        "introspection_endpoint": c.url(INTROSPECT_PATH),
        "jwks_uri": c.url(JWKS_PATH),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
    });
    let mut res = HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body);
    cors::public(&mut res);
    Ok(res)
}

/// Public keys only. Kept short in caches so that verifiers see a rotation within a minute
/// (and the previous key stays listed meanwhile).
pub(crate) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let mut res = HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(state.oauth.signer.jwks().as_str().to_string());
    cors::public(&mut res);
    res
}
