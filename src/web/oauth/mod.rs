//! `/oauth/…`: the authorization endpoint with its sign-in and consent pages, the token
//! endpoint, revocation and introspection. Each handler reads the request, calls `crate::oauth`
//! (or `access` for introspection) on the blocking pool, and answers — errors in the RFC 6749
//! shape, or as an HTML page where a redirect must not happen.

pub(crate) mod authorize;
pub(crate) mod introspect;
pub(crate) mod revoke;
pub(crate) mod token;

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};

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
