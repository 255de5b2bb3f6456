//! Token revocation (RFC 7009). A refresh token revokes its whole grant (every refresh and
//! access token descended from it); an access token is revoked by its `jti`. Unknown or
//! already-dead tokens are no error (§2.2), so revoking twice is harmless.

use super::errors::{OAuthError, Refusal};
use super::params::Params;
use super::{OAuthContext, clients};
use crate::store::clients::Client;
use crate::store::grants::{self, Grant, RefreshToken};
use crate::store::{DbConn, StoreError, transaction};
use crate::tokens::secret::{self, SecretKind};

/// `POST /oauth/revoke`: authenticates the client (§2.1), then revokes the token if it was
/// issued to that client. `Ok(Ok(revoked))` is success (§2.2: also for a token that was
/// unknown or dead already); `revoked` says whether something ended now, after which cached
/// decisions must be dropped.
pub(crate) fn revoke(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &Params,
) -> Result<Result<bool, Refusal>, StoreError> {
    let client = match clients::authenticate(
        conn,
        &ctx.clients,
        params.credentials.as_ref(),
        params.source,
    )? {
        Ok(known) => known,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let Some(token) = params.get("token") else {
        return Ok(Err(Refusal::invalid_request("missing parameter \"token\"")));
    };
    transaction(conn, |conn| revoke_token(conn, ctx, &client.client, token))
}

/// `token_type_hint` is not trusted (§2.1): the token's own shape says what it is.
fn revoke_token(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    client: &Client,
    token: &str,
) -> Result<Result<bool, Refusal>, StoreError> {
    let not_yours = || {
        Refusal::new(
            OAuthError::UnauthorizedClient,
            "the token was not issued to this client",
        )
    };
    if let Some(parsed) = secret::parse(&ctx.config.token_brand, token) {
        if parsed.kind != SecretKind::RefreshToken {
            return Ok(Ok(false));
        }
        let Some((_, grant, names)) = RefreshToken::find(conn, &parsed.hash.0)? else {
            return Ok(Ok(false));
        };
        if names.client_id != client.client_id {
            return Ok(Err(not_yours()));
        }
        let revoked = Grant::revoke(conn, &grant.id, "revoked by the client")?;
        if revoked {
            tracing::info!(grant = %grant.id, "grant revoked through its refresh token");
        }
        return Ok(Ok(revoked));
    }
    // An access token: only a valid, unexpired one needs listing.
    let Ok(claims) = ctx.signer.verify(token) else {
        return Ok(Ok(false));
    };
    if claims.client_id != client.client_id {
        return Ok(Err(not_yours()));
    }
    let exp = chrono::DateTime::from_timestamp(claims.exp, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_else(crate::clock::now);
    grants::revoke_access_token(conn, &claims.jti, exp)?;
    Ok(Ok(true))
}
