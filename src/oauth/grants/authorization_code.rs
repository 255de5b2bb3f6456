//! The authorization-code grant at the token endpoint (RFC 6749 §4.1.3–4.1.4, RFC 7636 §4.5–4.6).
//!
//! 1. Client: authenticated (§3.2.1), public clients by `client_id` alone.
//! 2. Flow allowed: the client is registered for this grant (§5.2 `unauthorized_client`).
//! 3. Grant checks: the code exists and was not used before (a replayed code revokes what it
//!    issued, §4.1.2); `redirect_uri` is there exactly when the authorization request carried
//!    one, and then identical to it (§4.1.3); then, in oxide-auth's order, the code was issued
//!    to this client and has not expired; the PKCE verifier answers its challenge (RFC 7636
//!    §4.6).
//!
//! The code is found and `redirect_uri` compared *before* oxide-auth's machine runs, which then
//! sees the code's own URI. Its machine requires `redirect_uri` in every token request and
//! compares it as a parsed URL (so `HTTP://127.1:9999/x/../cb` would equal
//! `http://127.0.0.1:9999/cb`), where §4.1.3 requires it only when the authorization request
//! had one, and then "identical".
//! 4. One write: the code is consumed and its token family started, together.
//! 5. Tokens: a JWT access token (RFC 9068) and, when the client may refresh, a refresh token.

use std::borrow::Cow;

use oxide_auth::code_grant::accesstoken::{self as at, AccessToken, Input, Output};
use oxide_auth::primitives::grant::{Extensions, Grant as OxideGrant};
use oxide_auth::primitives::issuer::{IssuedToken, TokenType};

use super::{
    Issued, Refused, access_token_expiry, claims, finished, flow_not_allowed, from_oxide,
    refresh_expiry, revoke_family,
};
use crate::oauth::errors::Refusal;
use crate::oauth::params::Params;
use crate::oauth::{OAuthContext, canonical_scope, clients, pkce};
use crate::store::grants::{AuthorizationCode, Grant, GrantNames, RefreshToken};
use crate::store::{DbConn, StoreError, write};
use crate::tokens::secret::{self, SecretHash, SecretKind};
use crate::{clock, duration};

pub(super) const GRANT_TYPE: &str = "authorization_code";

const REPLAYED: &str = "the authorization code was already used; tokens issued from it are revoked";

pub(super) fn exchange(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &Params,
) -> Result<Result<Issued, Refused>, StoreError> {
    // 1. Client.
    let client = match clients::authenticate(
        conn,
        &ctx.clients,
        params.credentials.as_ref(),
        params.source,
    )? {
        Ok(client) => client,
        Err(refusal) => return Ok(Err(refusal.into())),
    };
    // 2. Flow allowed.
    if !client.client.allows_grant(GRANT_TYPE) {
        return Ok(Err(flow_not_allowed().into()));
    }
    // 3. The code, and `redirect_uri` as sent.
    let Some(presented) = params.get("code") else {
        return Ok(Err(
            Refusal::invalid_request("missing parameter \"code\"").into()
        ));
    };
    let (row, names) = match find_code(conn, presented)? {
        Ok(found) => found,
        Err(refused) => return Ok(Err(refused)),
    };
    match (row.redirect_uri_given, params.get("redirect_uri")) {
        (true, None) => {
            return Ok(Err(Refusal::invalid_request(
                "redirect_uri is required: the authorization request carried one",
            )
            .into()));
        }
        (_, Some(sent)) if sent != row.redirect_uri => {
            return Ok(Err(Refusal::invalid_grant(
                "redirect_uri is not identical to the authorization request's",
            )
            .into()));
        }
        _ => {}
    }
    // 3–5 continued, one protocol step at a time.
    let request = WithRedirectUri {
        params,
        redirect_uri: &row.redirect_uri,
    };
    let mut machine = AccessToken::new(&request);
    let mut input = Input::None;
    let mut code = Some((row, names));
    let mut issued = None;
    loop {
        input = match machine.advance(input) {
            // oxide-auth asks for the credentials step 1 already checked.
            Output::Authenticate { client: id, .. } if id == client.client.client_id => {
                Input::Authenticated
            }
            Output::Authenticate { .. } => return Ok(Err(Refusal::invalid_client().into())),
            // The code found above.
            Output::Recover { .. } => {
                let grant = match &code {
                    Some((row, names)) => Some(Box::new(as_oxide_grant(row, names)?)),
                    None => None,
                };
                Input::Recovered(grant)
            }
            // oxide-auth checked client, redirect URI and expiry; PKCE is ours.
            Output::Extend { .. } => {
                let verifier = params.get("code_verifier");
                if verifier.is_some_and(|v| !pkce::is_verifier(v)) {
                    return Ok(Err(Refusal::invalid_request(
                        "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
                    )
                    .into()));
                }
                let challenge = code.as_ref().and_then(|(c, _)| c.code_challenge.as_deref());
                if !pkce::verify(client.client.kind, challenge, verifier) {
                    return Ok(Err(
                        Refusal::invalid_grant("PKCE verification failed").into()
                    ));
                }
                Input::Extended {
                    access_extensions: Extensions::new(),
                }
            }
            Output::Issue { grant } => {
                let Some((row, names)) = code.take() else {
                    return Err(StoreError::Unavailable(
                        "the code vanished mid-request".into(),
                    ));
                };
                let refresh = client.client.allows_grant("refresh_token");
                match start_family(conn, ctx, &row, refresh)? {
                    Some((grant_id, refresh_token)) => {
                        let scope = canonical_scope(grant.scope.iter());
                        issued = Some(Issued {
                            claims: claims(ctx, row.user_id, &names, &scope, &grant_id),
                            refresh_token: refresh_token.clone(),
                            scope,
                        });
                        Input::Issued(IssuedToken {
                            token: String::new(),
                            refresh: refresh_token,
                            until: access_token_expiry(ctx),
                            token_type: TokenType::Bearer,
                        })
                    }
                    None => {
                        return Ok(Err(Refused {
                            refusal: Refusal::invalid_grant(REPLAYED),
                            revoked_family: true,
                        }));
                    }
                }
            }
            Output::Ok(_) => break,
            Output::Err(mut e) => {
                return Ok(Err(from_oxide(e.description().map(|d| d.kind())).into()));
            }
        };
    }
    finished(issued)
}

/// The code's row, unless it is unknown or was used before — a replay, which revokes the
/// family the first use started (§4.1.2, RFC 9700 §4.5.3.1).
fn find_code(
    conn: &mut DbConn,
    presented: &str,
) -> Result<Result<(AuthorizationCode, GrantNames), Refused>, StoreError> {
    let hash = SecretHash::of(presented);
    let Some((row, names)) = AuthorizationCode::find(conn, &hash.0)? else {
        return Ok(Err(Refusal::invalid_grant(
            "the authorization code is unknown or expired",
        )
        .into()));
    };
    if row.consumed_at.is_some() {
        if let Some(grant_id) = &row.grant_id {
            revoke_family(conn, grant_id, "authorization code replayed")?;
        }
        return Ok(Err(Refused {
            refusal: Refusal::invalid_grant(REPLAYED),
            revoked_family: true,
        }));
    }
    Ok(Ok((row, names)))
}

/// The code as oxide-auth compares it with the request: client, redirect URI, expiry.
fn as_oxide_grant(row: &AuthorizationCode, names: &GrantNames) -> Result<OxideGrant, StoreError> {
    let corrupt =
        |what: &str| StoreError::Unavailable(format!("stored code has an invalid {what}"));
    Ok(OxideGrant {
        owner_id: row.user_id.to_string(),
        client_id: names.client_id.clone(),
        scope: row.scope.parse().map_err(|_| corrupt("scope"))?,
        redirect_uri: url::Url::parse(&row.redirect_uri).map_err(|_| corrupt("redirect URI"))?,
        until: clock::to_utc(row.expires_at),
        extensions: Extensions::new(),
    })
}

/// The one write: consumes the code and starts its token family (grant), with a refresh token
/// when the client may refresh. Of two concurrent exchanges the second finds the code consumed
/// and revokes what the first issued: `None`. Otherwise the grant id and the refresh token.
fn start_family(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    code: &AuthorizationCode,
    with_refresh: bool,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    let now = clock::now();
    let family = Grant {
        id: secret::random_base62(22),
        client_id: code.client_id,
        user_id: code.user_id,
        org_id: code.org_id,
        scope: code.scope.clone(),
        created_at: now,
        expires_at: now + duration::to_chrono(ctx.config.refresh_token_ttl),
        revoked_at: None,
    };
    let refresh =
        with_refresh.then(|| secret::mint(&ctx.config.token_brand, SecretKind::RefreshToken));
    let refresh_expiry = refresh_expiry(ctx, family.expires_at);
    let (new_family, code_id) = (family.clone(), code.id);
    let refresh_hash = refresh.as_ref().map(|r| r.hash.0);
    let consumed = write(conn, move |conn| {
        let family = new_family;
        Grant::insert(conn, &family)?;
        if !AuthorizationCode::consume(conn, code_id, &family.id)? {
            Grant::delete_unused(conn, &family.id)?;
            if let Some(grant_id) = AuthorizationCode::grant_of(conn, code_id)? {
                Grant::revoke(conn, &grant_id, "authorization code replayed")?;
            }
            return Ok::<_, StoreError>(false);
        }
        if let Some(hash) = &refresh_hash {
            RefreshToken::insert(conn, hash, &family.id, &family.scope, refresh_expiry)?;
        }
        Ok(true)
    })?;
    Ok(consumed.then(|| (family.id, refresh.map(|r| r.plaintext))))
}

/// The token request as oxide-auth's machine reads it, with the code's own `redirect_uri`
/// (already compared with the request's, as sent, above).
struct WithRedirectUri<'a> {
    params: &'a Params,
    redirect_uri: &'a str,
}

impl at::Request for WithRedirectUri<'_> {
    fn valid(&self) -> bool {
        at::Request::valid(self.params)
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        at::Request::code(self.params)
    }

    fn authorization(&self) -> at::Authorization<'_> {
        at::Request::authorization(self.params)
    }

    fn client_id(&self) -> Option<Cow<'_, str>> {
        at::Request::client_id(self.params)
    }

    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.redirect_uri))
    }

    fn grant_type(&self) -> Option<Cow<'_, str>> {
        at::Request::grant_type(self.params)
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        at::Request::extension(self.params, key)
    }
}
