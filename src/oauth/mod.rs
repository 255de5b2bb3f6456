//! OAuth 2.0: discovery, the authorization endpoint with its sign-in and consent pages, the
//! token endpoint, revocation and introspection. oxide-auth drives the flows
//! ([`primitives`] backs its traits with the store); the handlers here read requests and
//! write answers.

pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod errors;
pub mod introspect;
pub mod metadata;
pub mod pages;
pub mod params;
pub mod primitives;
pub mod revoke;
pub mod session;
pub mod token;

use std::sync::Arc;

use actix_web::web;
use futures_util::StreamExt;

use crate::config::Config;
use crate::http::FORM_LIMIT;
use crate::tokens::jwt::AccessTokenSigner;
use errors::Refusal;

/// What the OAuth flows need besides a connection. Cheap to clone into blocking closures.
#[derive(Clone)]
pub struct OAuthContext {
    pub config: Arc<Config>,
    pub signer: Arc<AccessTokenSigner>,
    pub clients: Arc<clients::ClientDirectory>,
}

pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const LOGIN_PATH: &str = "/oauth/login";
pub const TOKEN_PATH: &str = "/oauth/token";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(METADATA_PATH, web::get().to(metadata::metadata))
        .route(JWKS_PATH, web::get().to(metadata::jwks))
        .route(AUTHORIZE_PATH, web::get().to(authorize::authorize_get))
        .route(AUTHORIZE_PATH, web::post().to(authorize::authorize_post))
        .route(LOGIN_PATH, web::post().to(authorize::login_post))
        .route(TOKEN_PATH, web::post().to(token::token))
        .route(REVOKE_PATH, web::post().to(revoke::revoke))
        .route(INTROSPECT_PATH, web::post().to(introspect::introspect));
}

/// Reads a request body up to the form limit; beyond it, `invalid_request` with 413.
pub async fn read_body(mut payload: web::Payload) -> Result<web::Bytes, Refusal> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| Refusal::new("invalid_request", "the request body could not be read"))?;
        if body.len() + chunk.len() > FORM_LIMIT {
            return Err(
                Refusal::new("invalid_request", "the request body is too large").with_status(413),
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
