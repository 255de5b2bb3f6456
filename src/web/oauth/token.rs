//! `POST /oauth/token` (RFC 6749 §4.1.3, §6): read the parameters, run the grant
//! ([`crate::oauth::grants::exchange`]), answer with the tokens (§5.1) or the §5.2 error.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{for_client, no_store};
use crate::oauth::grants::{self, Tokens};
use crate::web::body::oauth_params;
use crate::web::cors;
use crate::web::error;
use crate::web::state::AppState;

/// The token endpoint (RFC 6749 §3.2): exchanges an authorization code (§4.1.3) or a refresh
/// token (§6) for tokens.
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "token",
    tag = "oauth",
    request_body(content(
        (crate::web::openapi::shapes::TokenRequest = "application/x-www-form-urlencoded"),
        (crate::web::openapi::shapes::TokenRequest = "application/json"),
    )),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "RFC 6749 §5.1: the tokens.", body = crate::web::openapi::shapes::TokenResponse),
        crate::web::openapi::shapes::OAuthErrors,
    ),
)]
pub(crate) async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match oauth_params(&req, payload).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let outcome = for_client(&req, &state, params, grants::exchange).await;
    let (mut res, origin) = match outcome {
        Ok((Ok(tokens), origin)) => (issued(&tokens), origin),
        Ok((Err(refused), origin)) => {
            if refused.revoked_family {
                state.checker.invalidate();
            }
            (error::oauth_error(&refused.refusal), origin)
        }
        Err(e) => (error::oauth_unavailable(&e), None),
    };
    cors::allow(&mut res, origin.as_deref());
    res
}

/// §5.1: the token response.
fn issued(tokens: &Tokens) -> HttpResponse {
    let mut body = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "scope": tokens.scope,
    });
    if let Some(refresh) = &tokens.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    no_store(HttpResponse::Ok()).json(body)
}
