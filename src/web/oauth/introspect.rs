//! `POST /oauth/introspect` (RFC 7662): any confidential client may ask whether a Tessera
//! token is active. Client authentication ([`crate::oauth::clients::authenticate`]), then the
//! resource-server decision ([`crate::access::checker`]), then the answer
//! ([`crate::oauth::introspect::describe`]). Fails closed: a token that may well be active is
//! never reported inactive because the store could not be asked (503 `temporarily_unavailable`).

use actix_web::{HttpRequest, HttpResponse, web};

use super::no_store;
use crate::oauth::clients;
use crate::oauth::errors::Refusal;
use crate::oauth::introspect::describe;
use crate::store::clients::ClientKind;
use crate::web::body::oauth_params;
use crate::web::client_ip::client_ip;
use crate::web::error;
use crate::web::state::AppState;

/// RFC 7662 §2.1: is this token active? Confidential clients only.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "introspect",
    tag = "oauth",
    request_body(content(
        (crate::web::openapi::shapes::PresentedTokenRequest = "application/x-www-form-urlencoded"),
        (crate::web::openapi::shapes::PresentedTokenRequest = "application/json"),
    )),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "RFC 7662 §2.2: what the token is, or `{\"active\": false}`.",
            body = crate::oauth::introspect::Introspection),
        crate::web::openapi::shapes::OAuthErrors,
    ),
)]
pub(crate) async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut params = match oauth_params(&req, payload).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    params.source = client_ip(&req, &state.config.trusted_proxies);
    let directory = state.oauth.clients.clone();
    let authenticated = state
        .db
        .run(move |conn| {
            clients::authenticate(conn, &directory, params.credentials.as_ref(), params.source)
                .map(|r| r.map(|client| (client, params)))
        })
        .await;
    let params = match authenticated {
        // Introspection reveals facts about other clients' tokens: confidential clients only.
        Ok(Ok((client, params))) if client.client.kind == ClientKind::Confidential => params,
        Ok(Ok(_)) => return error::oauth_error(&Refusal::invalid_client()),
        Ok(Err(refusal)) => return error::oauth_error(&refusal),
        Err(e) => return error::oauth_unavailable(&e),
    };
    let Some(token) = params.get("token") else {
        return error::oauth_error(&Refusal::invalid_request("missing parameter \"token\""));
    };
    // token_type_hint (§2.1) is not needed: the token's own shape says what it is.
    let decision = match state.checker.lookup(token).await {
        Ok(d) => d,
        Err(e) => return error::oauth_unavailable(&e),
    };
    let principal = decision.result.as_ref().ok();
    // A resource server asking about an integration token is a use of it (the inactivity
    // rule must not expire tokens that are only ever checked this way).
    if let Some(id) = principal.and_then(|p| p.token_id) {
        state.checker.record_use(id);
    }
    no_store(HttpResponse::Ok()).json(describe(principal, &state.config.issuer))
}
