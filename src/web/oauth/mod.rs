//! `/oauth/…`: the authorization endpoint with its sign-in and consent pages, the token
//! endpoint, revocation and introspection. Each handler reads the request, calls `crate::oauth`
//! (or `access` for introspection) on the blocking pool, and answers — errors in the RFC 6749
//! shape, or as an HTML page where a redirect must not happen.

pub(crate) mod authorize;
pub(crate) mod introspect;
pub(crate) mod revoke;
pub(crate) mod token;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::oauth::params::Params;
use crate::oauth::{OAuthContext, clients};
use crate::store::{DbConn, StoreError};
use crate::web::{cors, state::AppState};

/// Tokens and credentials must never be cached (RFC 6749 §5.1).
fn no_store(mut res: HttpResponseBuilder) -> HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    res
}

/// An empty 200 that no cache keeps.
fn ok_no_store() -> HttpResponse {
    no_store(HttpResponse::Ok()).finish()
}

/// Runs `f` for a token-endpoint-style request on the blocking pool, and decides in the same
/// trip which origin its answer may name for CORS (the request's own client's, if it allows
/// the request's `Origin`).
async fn for_client<T: Send + 'static>(
    req: &HttpRequest,
    state: &AppState,
    mut params: Params,
    f: impl FnOnce(&mut DbConn, &OAuthContext, &Params) -> Result<T, StoreError> + Send + 'static,
) -> Result<(T, Option<String>), StoreError> {
    let ctx = state.oauth.clone();
    let origin = cors::origin(req);
    params.source = super::client_ip::client_ip(req, &state.config.trusted_proxies);
    state
        .db
        .run(move |conn| {
            let outcome = f(conn, &ctx, &params)?;
            let client_id = params.credentials.as_ref().map(|c| c.client_id.as_str());
            let origin = clients::cors_origin_for(conn, &ctx.clients, client_id, origin)?;
            Ok((outcome, origin))
        })
        .await
}
