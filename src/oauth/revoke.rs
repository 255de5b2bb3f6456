//! `POST /oauth/revoke` (RFC 7009). A refresh token revokes its whole grant (every refresh
//! and access token descended from it); an access token is revoked by its `jti`. Unknown or
//! already-dead tokens answer 200 (§2.2), so the endpoint is safe to call twice.

use actix_web::{HttpRequest, HttpResponse, web};

use super::errors::{Refusal, no_store};
use super::params::Params;
use super::{OAuthContext, client_auth};
use crate::http::AppState;
use crate::store::clients::Client;
use crate::store::grants::{self, Grant, RefreshToken};
use crate::store::{DbConn, StoreError, transaction};
use crate::tokens::secret::{self, SecretKind};

pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match Params::read(&req, payload).await {
        Ok(p) => p,
        Err(refusal) => return refusal.response(),
    };
    let ctx = state.oauth.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let client =
                match client_auth::authenticate(conn, &ctx, params.credentials.as_ref(), false)? {
                    Ok(c) => c,
                    Err(refusal) => return Ok(Err(refusal)),
                };
            let Some(token) = params.get("token") else {
                return Ok(Err(Refusal::new(
                    "invalid_request",
                    "missing parameter \"token\"",
                )));
            };
            transaction(conn, |conn| revoke_token(conn, &ctx, &client, token))
        })
        .await;
    match outcome {
        Ok(Ok(())) => {
            // Decisions cached before the revocation must not be served after it.
            state.checker.invalidate();
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.finish()
        }
        Ok(Err(refusal)) => refusal.response(),
        Err(e) => {
            tracing::warn!(cause = %e, "revocation failed on the store");
            Refusal::unavailable().response()
        }
    }
}

/// `token_type_hint` is not trusted (§2.1): the token's own shape says what it is.
fn revoke_token(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    client: &Client,
    token: &str,
) -> Result<Result<(), Refusal>, StoreError> {
    let not_yours = || {
        Refusal::new(
            "unauthorized_client",
            "the token was not issued to this client",
        )
    };
    if let Some(parsed) = secret::parse(&ctx.config.token_brand, token) {
        if parsed.kind != SecretKind::RefreshToken {
            return Ok(Ok(()));
        }
        let Some((_, grant, names)) = RefreshToken::find(conn, &parsed.hash)? else {
            return Ok(Ok(()));
        };
        if names.client_id != client.client_id {
            return Ok(Err(not_yours()));
        }
        if Grant::revoke(conn, &grant.id, "revoked by the client")? {
            tracing::info!(grant = %grant.id, "grant revoked through its refresh token");
        }
        return Ok(Ok(()));
    }
    // An access token: only a valid, unexpired one needs listing.
    let Ok(claims) = ctx.signer.verify(token) else {
        return Ok(Ok(()));
    };
    if claims.client_id != client.client_id {
        return Ok(Err(not_yours()));
    }
    let exp = chrono::DateTime::from_timestamp(claims.exp, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_else(crate::clock::now);
    grants::revoke_access_token(conn, &claims.jti, exp)?;
    Ok(Ok(()))
}
