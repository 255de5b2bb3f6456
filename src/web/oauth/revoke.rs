//! `POST /oauth/revoke` (RFC 7009): read the parameters, revoke
//! ([`crate::oauth::revoke::revoke`]), answer 200 — also for unknown tokens (§2.2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::ok_no_store;
use crate::oauth::{clients, revoke};
use crate::web::body::oauth_params;
use crate::web::cors;
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
    let origin = cors::origin(&req);
    let outcome = state
        .db
        .run(move |conn| {
            let outcome = revoke::revoke(conn, &ctx, &params)?;
            let client_id = params.credentials.as_ref().map(|c| c.client_id.as_str());
            let origin = clients::cors_origin_for(conn, &ctx.clients, client_id, origin)?;
            Ok::<_, crate::store::StoreError>((outcome, origin))
        })
        .await;
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
