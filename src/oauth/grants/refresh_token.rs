//! The refresh-token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).
//!
//! 1. Client: authenticated when it sent credentials (§3.2.1). A public client may send none
//!    (its `client_id` is optional, §3.2.1): it is then identified by the refresh token's own
//!    client in step 3, through the same authentication.
//! 2. Flow allowed: the client is registered for this grant (§5.2 `unauthorized_client`).
//! 3. Grant checks, in oxide-auth's order: the token exists, belongs to this client, and is
//!    live — a token that was already rotated is reuse, which revokes its whole family; the
//!    requested `scope` is no wider than the grant's (§6).
//! 4. One write: the token is marked rotated — once; losing that race is reuse too — and its
//!    successor inserted.
//!
//! A client may opt in to a rotation grace (`refresh_grace_seconds`, at most 300): a token
//! presented again that soon after its rotation — a mobile app that lost the response — is not
//! reuse: it gets a successor of its own (a sibling of the first one, in the same family), as
//! Ory Hydra does — once: a second retry is reuse. The alternative, answering the first response again, would keep the
//! successor's plaintext at rest; this keeps nothing secret. After the window, reuse revokes
//! the family as always; both successors are single-use like any refresh token. The window is
//! read from the token's row in the store, so it holds across instances.
//! 5. Tokens: a new access token and the successor refresh token.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::TimeDelta;

use oxide_auth::code_grant::refresh::{Input, Output, Refresh};
use oxide_auth::primitives::grant::{Extensions, Grant as OxideGrant};
use oxide_auth::primitives::issuer::{RefreshedToken, TokenType};

use super::{
    Issued, Refused, access_token_expiry, claims, finished, flow_not_allowed, from_oxide,
    refresh_expiry, revoke_family,
};
use crate::clock;
use crate::oauth::clients::{self, KnownClient};
use crate::oauth::errors::Refusal;
use crate::oauth::params::{AuthMethod, ClientCredentials, Params};
use crate::oauth::{OAuthContext, canonical_scope};
use crate::store::grants::{Grant, GrantNames, RefreshToken};
use crate::store::{DbConn, StoreError, write, write_statement};
use crate::tokens::secret::{self, SecretKind};

pub(super) const GRANT_TYPE: &str = "refresh_token";

const REUSED: &str = "the refresh token was already used; its grant is revoked";

/// The refresh token being exchanged, as found in step 3, and its client's rotation grace.
struct Presented {
    row: RefreshToken,
    family: Grant,
    names: GrantNames,
    grace: TimeDelta,
}

pub(super) fn exchange(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &Params,
) -> Result<Result<Issued, Refused>, StoreError> {
    // 1–2. Client and flow, when the client sent credentials.
    let mut client: Option<Arc<KnownClient>> = None;
    if params.credentials.is_some() {
        match authenticate(conn, ctx, params.credentials.as_ref(), params.source)? {
            Ok(known) => client = Some(known),
            Err(refusal) => return Ok(Err(refusal.into())),
        }
    }
    // 3–5, one protocol step at a time.
    let mut machine = Refresh::new(params);
    let mut input = Input::None;
    let mut presented: Option<Presented> = None;
    let mut issued = None;
    loop {
        input = match machine.advance(input) {
            Output::Unauthenticated { client: id, .. } => match &client {
                // The client step 1 authenticated (confidential), or the token's own client
                // compared with the one that identified itself (public).
                Some(known) if known.client.client_id == id => Input::Authenticated {
                    scope: params.get("scope").map(Cow::Borrowed),
                },
                Some(_) => {
                    return Ok(Err(Refusal::invalid_grant(
                        "the refresh token was issued to another client",
                    )
                    .into()));
                }
                // No credentials were sent: the token's client must be public.
                None => {
                    let by_token = ClientCredentials {
                        client_id: id.to_string(),
                        secret: None,
                        method: AuthMethod::None,
                    };
                    match authenticate(conn, ctx, Some(&by_token), params.source)? {
                        Ok(known) => client = Some(known),
                        Err(refusal) => return Ok(Err(refusal.into())),
                    }
                    Input::Authenticated {
                        scope: params.get("scope").map(Cow::Borrowed),
                    }
                }
            },
            Output::RecoverRefresh { token } => match find_live(conn, ctx, token)? {
                Ok(found) => {
                    let grant = as_oxide_grant(ctx, &found)?;
                    presented = Some(found);
                    Input::Recovered {
                        scope: params.get("scope").map(Cow::Borrowed),
                        grant: Some(Box::new(grant)),
                    }
                }
                Err(refused) => return Ok(Err(refused)),
            },
            Output::Refresh { grant, .. } => {
                let Some(found) = presented.take() else {
                    return Err(StoreError::Unavailable(
                        "the token vanished mid-request".into(),
                    ));
                };
                let Some(next) = rotate(conn, ctx, &found)? else {
                    return Ok(Err(Refused {
                        refusal: Refusal::invalid_grant(REUSED),
                        revoked_family: true,
                    }));
                };
                // Only this access token may be narrower (§6); the family keeps its scope.
                let scope = canonical_scope(grant.scope.iter());
                issued = Some(Issued {
                    claims: claims(
                        ctx,
                        found.family.user_id,
                        &found.names,
                        &scope,
                        &found.family.id,
                    ),
                    refresh_token: Some(next.clone()),
                    scope,
                });
                Input::Refreshed(RefreshedToken {
                    token: String::new(),
                    refresh: Some(next),
                    until: access_token_expiry(ctx),
                    token_type: TokenType::Bearer,
                })
            }
            Output::Ok(_) => break,
            Output::Err(mut e) => {
                return Ok(Err(from_oxide(e.description().map(|d| d.kind())).into()));
            }
        };
    }
    finished(issued)
}

/// Steps 1–2 for one set of credentials.
fn authenticate(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    credentials: Option<&ClientCredentials>,
    source: Option<std::net::IpAddr>,
) -> Result<Result<Arc<KnownClient>, Refusal>, StoreError> {
    Ok(
        match clients::authenticate(conn, &ctx.clients, credentials, source)? {
            Ok(known) if !known.client.allows_grant(GRANT_TYPE) => Err(flow_not_allowed()),
            other => other,
        },
    )
}

/// The presented refresh token, if it is one of ours and live. One already rotated is reuse
/// (RFC 9700 §4.14.2): its whole family is revoked and the request fails.
fn find_live(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    token: &str,
) -> Result<Result<Presented, Refused>, StoreError> {
    let invalid = || {
        Ok(Err(
            Refusal::invalid_grant("the refresh token is invalid").into()
        ))
    };
    let Some(parsed) = secret::parse(&ctx.config.token_brand, token)
        .filter(|p| p.kind == SecretKind::RefreshToken)
    else {
        return invalid();
    };
    let Some((row, family, names)) = RefreshToken::find(conn, &parsed.hash.0)? else {
        return invalid();
    };
    let now = clock::now();
    let grace = ctx
        .clients
        .find(conn, &names.client_id)?
        .map_or(TimeDelta::zero(), |c| {
            TimeDelta::seconds(i64::from(c.client.refresh_grace_seconds.max(0)))
        });
    // Strict rotation (no grace) never compares clocks: any rotated token is reuse.
    if row
        .rotated_at
        .is_some_and(|at| grace.is_zero() || row.grace_used || now - at > grace)
    {
        revoke_family(conn, &family.id, "refresh token reuse")?;
        return Ok(Err(Refused {
            refusal: Refusal::invalid_grant(REUSED),
            revoked_family: true,
        }));
    }
    if !family.is_live(now) || row.expires_at <= now {
        return Ok(Err(Refusal::invalid_grant(
            "the refresh token has expired or was revoked",
        )
        .into()));
    }
    Ok(Ok(Presented {
        row,
        family,
        names,
        grace,
    }))
}

/// The token as oxide-auth checks it: its client, scope and end.
fn as_oxide_grant(ctx: &OAuthContext, found: &Presented) -> Result<OxideGrant, StoreError> {
    let corrupt =
        |what: &str| StoreError::Unavailable(format!("stored grant has an invalid {what}"));
    Ok(OxideGrant {
        owner_id: found.family.user_id.to_string(),
        client_id: found.names.client_id.clone(),
        scope: found.row.scope.parse().map_err(|_| corrupt("scope"))?,
        // Refresh requests carry no redirect URI; oxide-auth's grant needs one.
        redirect_uri: url::Url::parse(&ctx.config.issuer).map_err(|_| corrupt("issuer"))?,
        until: clock::to_utc(found.row.expires_at),
        extensions: Extensions::new(),
    })
}

/// The one write: marks the token rotated and inserts its successor, which keeps the family's
/// scope (§6). A token rotated already (meanwhile, or just before within the client's grace)
/// gets a successor too while the grace lasts; otherwise that is reuse: `None`, and the family
/// is revoked in the same transaction.
fn rotate(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    found: &Presented,
) -> Result<Option<String>, StoreError> {
    let next = secret::mint(&ctx.config.token_brand, SecretKind::RefreshToken);
    let expiry = refresh_expiry(ctx, found.family.expires_at);
    let (row_id, family_id, family_scope, next_hash, grace) = (
        found.row.id,
        found.family.id.clone(),
        found.row.scope.clone(),
        next.hash.0,
        found.grace,
    );
    // The common case, a live token: one statement (on PostgreSQL one round trip and commit).
    let (family, scope) = (family_id.clone(), family_scope.clone());
    let exchanged = write_statement(conn, move |conn| {
        RefreshToken::rotate_into(conn, row_id, &next_hash, &family, &scope, expiry)
    })?;
    if exchanged {
        return Ok(Some(next.plaintext));
    }
    // Exchanged already (meanwhile, or before): a retry within the grace, or reuse.
    let rotated = write(conn, move |conn| {
        let now = clock::now();
        // The one retry the grace allows: taken once, by one request.
        let within_grace = !grace.is_zero()
            && RefreshToken::rotated_at(conn, row_id)?.is_some_and(|at| now - at <= grace)
            && RefreshToken::use_grace(conn, row_id)?;
        if !within_grace {
            Grant::revoke(conn, &family_id, "refresh token reuse")?;
            return Ok::<_, StoreError>(false);
        }
        RefreshToken::insert(conn, &next_hash, &family_id, &family_scope, expiry)?;
        Ok(true)
    })?;
    Ok(rotated.then_some(next.plaintext))
}
