//! `POST /oauth/revoke` (RFC 7009): read the parameters, revoke
//! ([`crate::oauth::revoke::revoke`]), answer 200 — also for unknown tokens (§2.2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::ok_no_store;
use crate::oauth::revoke;
use crate::web::body::oauth_params;
use crate::web::error;
use crate::web::state::AppState;

pub(crate) async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match oauth_params(&req, payload).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let ctx = state.oauth.clone();
    match state
        .db
        .run(move |conn| revoke::revoke(conn, &ctx, &params))
        .await
    {
        Ok(Ok(())) => {
            // Decisions cached before the revocation must not be served after it.
            state.checker.invalidate();
            ok_no_store()
        }
        Ok(Err(refusal)) => error::oauth_error(&refusal),
        Err(e) => error::oauth_unavailable(&e),
    }
}
