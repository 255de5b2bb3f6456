//! `POST /oauth/revoke` (RFC 7009): read the parameters, revoke
//! ([`crate::oauth::revoke::revoke`]), answer 200 — also for unknown tokens (§2.2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::{for_client, ok_no_store};
use crate::oauth::revoke;
use crate::web::body::oauth_params;
use crate::web::cors;
use crate::web::error;
use crate::web::state::AppState;

/// RFC 7009 §2.1: revokes a token; unknown tokens are answered alike (§2.2).
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "revoke",
    tag = "oauth",
    request_body(content(
        (crate::web::openapi::shapes::PresentedTokenRequest = "application/x-www-form-urlencoded"),
        (crate::web::openapi::shapes::PresentedTokenRequest = "application/json"),
    )),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "RFC 7009 §2.2: revoked, or there was nothing to revoke. No body."),
        crate::web::openapi::shapes::OAuthErrors,
    ),
)]
pub(crate) async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match oauth_params(&req, payload).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let outcome = for_client(&req, &state, params, revoke::revoke).await;
    let (mut res, origin) = match outcome {
        Ok((Ok(revoked), origin)) => {
            // Decisions cached before the revocation must not be served after it. (Nothing
            // ended, nothing to drop: an unknown token must not flush every cache.)
            if revoked {
                state.checker.invalidate();
            }
            (ok_no_store(), origin)
        }
        Ok((Err(refusal), origin)) => (error::oauth_error(&refusal), origin),
        Err(e) => (error::oauth_unavailable(&e), None),
    };
    cors::allow(&mut res, origin.as_deref());
    res
}
