//! CORS (the Fetch standard's HTTP headers) for the endpoints a browser app calls itself.
//!
//! - Discovery and the JWKS are public documents: any origin may read them
//!   (`Access-Control-Allow-Origin: *`, never with credentials).
//! - The token and revocation endpoints answer an origin only when the request's client allows
//!   it (`oauth::clients::allows_origin`: the client's own list, or a public client's redirect
//!   URIs' origins). A preflight names no client, so it is answered for an origin some client
//!   allows; the request itself is then answered for its own client only.
//! - Nowhere else: not the authorization endpoint, the pages or the management API.
//!
//! Written here rather than with `actix-cors`, whose origin check sees the request head only:
//! which client a token request is for is in its body.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::state::AppState;

/// How long a browser may reuse a preflight's answer, in seconds.
const MAX_AGE: &str = "600";

/// The request's `Origin`, when it names one (`null` names none).
pub(crate) fn origin(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty() && *o != "null" && o.len() <= 512)
        .map(str::to_string)
}

/// Lets any origin read this public document.
pub(crate) fn public(res: &mut HttpResponse) {
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

/// Lets `origin` (already decided allowed) read this answer; caches keep answers per origin.
pub(crate) fn allow(res: &mut HttpResponse, origin: Option<&str>) {
    res.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        res.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}

/// `OPTIONS` on discovery and the JWKS.
pub(crate) async fn public_preflight() -> HttpResponse {
    let mut res = HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE))
        .finish();
    public(&mut res);
    res
}

/// `OPTIONS` on the token and revocation endpoints: allowed for an origin some client allows.
pub(crate) async fn client_preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut res = HttpResponse::NoContent().finish();
    let Some(origin) = origin(&req) else {
        allow(&mut res, None);
        return res;
    };
    let directory = state.oauth.clients.clone();
    let checked = origin.clone();
    let allowed = state
        .db
        .run(move |conn| directory.origin_allowed_for_any(conn, &checked))
        .await
        .unwrap_or(false);
    if allowed {
        let headers = res.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
    }
    allow(&mut res, allowed.then_some(origin.as_str()));
    res
}
