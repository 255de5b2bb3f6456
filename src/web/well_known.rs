//! Discovery (RFC 8414) and the public signing keys (JWKS).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::cors;
use super::error::ApiError;
use super::paths::{AUTHORIZE_PATH, INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH};
use super::state::AppState;
use crate::store::scopes::ScopeDef;

/// Authorization server metadata (RFC 8414 §2).
#[derive(Serialize, ToSchema)]
pub(crate) struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    jwks_uri: String,
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    response_modes_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    grant_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    code_challenge_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    revocation_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    introspection_endpoint_auth_methods_supported: &'static [&'static str],
    /// The scopes defined on this server.
    scopes_supported: Vec<String>,
    #[schema(value_type = Vec<String>)]
    prompt_values_supported: &'static [&'static str],
    /// RFC 9207: the authorization response carries `iss`.
    authorization_response_iss_parameter_supported: bool,
}

/// A JSON Web Key Set (RFC 7517 §5): the public keys that verify access tokens.
#[derive(ToSchema)]
pub(crate) struct JwkSet {
    /// Each a public JWK (RFC 7517 §4) with `kid`, `alg` and `use: sig`.
    #[allow(
        dead_code,
        reason = "a shape for the OpenAPI document; the signer writes the JSON"
    )]
    keys: Vec<serde_json::Value>,
}

/// Authorization server metadata (RFC 8414 §3), public and cacheable for 5 minutes.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "metadata",
    tag = "discovery",
    responses(
        (status = 200, description = "RFC 8414 §3.2: the metadata.", body = Metadata),
        crate::web::openapi::shapes::BadInput,
        (status = 503, description = "The database cannot answer right now.",
            body = crate::web::openapi::shapes::ApiErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again."))),
        (status = 500, description = "An unexpected failure.", body = crate::web::openapi::shapes::ApiErrorBody),
    ),
)]
pub(crate) async fn metadata(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let scopes = state.db.run(ScopeDef::list).await?;
    let c = &state.config;
    let auth_methods: &[&str] = &["client_secret_basic", "client_secret_post", "none"];
    let body = Metadata {
        issuer: c.issuer.clone(),
        authorization_endpoint: c.url(AUTHORIZE_PATH),
        token_endpoint: c.url(TOKEN_PATH),
        revocation_endpoint: c.url(REVOKE_PATH),
        introspection_endpoint: c.url(INTROSPECT_PATH),
        jwks_uri: c.url(JWKS_PATH),
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        grant_types_supported: &["authorization_code", "refresh_token"],
        code_challenge_methods_supported: &["S256"],
        token_endpoint_auth_methods_supported: auth_methods,
        revocation_endpoint_auth_methods_supported: auth_methods,
        introspection_endpoint_auth_methods_supported: &[
            "client_secret_basic",
            "client_secret_post",
        ],
        scopes_supported: scopes.into_iter().map(|s| s.name).collect(),
        prompt_values_supported: &["none", "login", "consent"],
        authorization_response_iss_parameter_supported: true,
    };
    let mut res = HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body);
    cors::public(&mut res);
    Ok(res)
}

/// Public keys only. Kept short in caches so that verifiers see a rotation within a minute
/// (and the previous key stays listed meanwhile).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "discovery",
    responses(
        (status = 200, description = "The public signing keys (RFC 7517 §5).", body = JwkSet,
            content_type = "application/jwk-set+json"),
        crate::web::openapi::shapes::BadInput,
    ),
)]
pub(crate) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let mut res = HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(state.oauth.signer.jwks().as_str().to_string());
    cors::public(&mut res);
    res
}
