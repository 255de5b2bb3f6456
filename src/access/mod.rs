//! The resource-server decision: what a presented token is, and whether it is alive.
//!
//! One implementation serves `/v1/check`, `/oauth/introspect` and the management API's
//! caller check. Order: token shape and checksum ([`classify`]; no store touched for garbage)
//! → look-up ([`identify`]; JWT: signature, `exp`, `iss`, `aud`, then revoked `jti` or grant;
//! opaque tokens: by SHA-256, constant-time confirm) → revoked / expired / inactive →
//! ([`checker`]) IP allowlist → scopes.
//!
//! Plain Rust over the store: nothing here knows HTTP. Imports `store`, `tokens`,
//! `revocation`, `integrations` (token status and usage), and `telemetry` (its metrics).

pub(crate) mod caller;
pub(crate) mod checker;

use std::borrow::Cow;

use chrono::{NaiveDateTime, TimeDelta};

use ipnet::IpNet;
use serde::Serialize;

use crate::clock;
use crate::integrations::usage::UsageRecorder;
use crate::integrations::{self, Status};
use crate::store::grants::{self, RefreshToken};
use crate::store::integrations::IntegrationToken;
use crate::store::{DbConn, StoreError};
use crate::telemetry::metrics::CheckToken;
use crate::tokens::jwt::{AccessTokenSigner, Rejection};
use crate::tokens::secret::{self, ParsedSecret, SecretHash, SecretKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(
    clippy::enum_variant_names,
    reason = "the kinds are written on the wire as access_token, refresh_token, integration_token"
)]
pub(crate) enum TokenKind {
    AccessToken,
    RefreshToken,
    IntegrationToken,
}

/// Who a live token speaks for and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub kind: TokenKind,
    pub sub: String,
    pub client_id: Option<String>,
    pub integration_id: Option<String>,
    pub org: String,
    pub scopes: Vec<String>,
    pub iat: Option<i64>,
    pub exp: Option<i64>,
    /// Networks the token may be used from; empty means anywhere (integration tokens).
    pub allow_ips: Vec<IpNet>,
    /// The stored token, for usage counts (integration tokens).
    pub token_id: Option<i64>,
    /// Integration tokens with an inactivity limit: the last use known when this was decided
    /// and the limit. A cached decision is not served past `last use + limit` without asking
    /// the store again.
    pub idle: Option<(NaiveDateTime, TimeDelta)>,
}

/// Why a token is not alive. Callers answer all of them alike (401 / `active: false`);
/// the variants exist for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dead {
    /// Not the shape of any Tessera token, or its checksum fails.
    Malformed,
    /// Well-formed but unknown (or a JWT whose signature or claims do not hold).
    Unknown,
    Revoked,
    Expired,
}

/// Tokens longer than this are not Tessera's (JWTs here are well under 1 KiB).
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// Three base64url segments, in one pass over the token.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    let mut dots = 0;
    for b in token.bytes() {
        match b {
            b'.' => dots += 1,
            b'-' | b'_' => {}
            _ if b.is_ascii_alphanumeric() => {}
            _ => return false,
        }
    }
    dots == 2
}

/// A presented token whose shape is one of Tessera's, classified once and hashed once.
#[derive(Clone)]
pub(crate) enum Presented<'a> {
    /// An opaque secret whose checksum holds (integration, refresh or client secret).
    Opaque(ParsedSecret),
    /// Three base64url segments: perhaps an access token.
    Jwt {
        token: Cow<'a, str>,
        hash: SecretHash,
    },
}

impl Presented<'_> {
    /// The SHA-256 of the whole token: the key of cached decisions.
    pub(crate) fn hash(&self) -> &SecretHash {
        match self {
            Presented::Opaque(p) => &p.hash,
            Presented::Jwt { hash, .. } => hash,
        }
    }

    /// The token's kind by its shape, as the check's metric labels it.
    pub(crate) fn metric_label(&self) -> CheckToken {
        match self {
            Presented::Opaque(p) => match p.kind {
                SecretKind::Live | SecretKind::Test => CheckToken::Integration,
                SecretKind::RefreshToken => CheckToken::Refresh,
                SecretKind::ClientSecret => CheckToken::Unknown,
            },
            Presented::Jwt { .. } => CheckToken::Jwt,
        }
    }

    /// The same, owning its text, to be taken to the blocking pool.
    pub(crate) fn into_owned(self) -> Presented<'static> {
        match self {
            Presented::Opaque(p) => Presented::Opaque(p),
            Presented::Jwt { token, hash } => Presented::Jwt {
                token: Cow::Owned(token.into_owned()),
                hash,
            },
        }
    }
}

/// Step 1: shape and checksum, without the store. `None` is malformed.
pub(crate) fn classify<'a>(brand: &str, token: &'a str) -> Option<Presented<'a>> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    if let Some(parsed) = secret::parse(brand, token) {
        return Some(Presented::Opaque(parsed));
    }
    looks_like_jwt(token).then(|| Presented::Jwt {
        token: Cow::Borrowed(token),
        hash: SecretHash::of(token),
    })
}

/// Steps 2–3: looks the classified token up and checks that it is alive.
pub(crate) fn identify(
    conn: &mut DbConn,
    signer: &AccessTokenSigner,
    usage: &UsageRecorder,
    token: &Presented<'_>,
) -> Result<Result<Principal, Dead>, StoreError> {
    let token = match token {
        Presented::Opaque(parsed) => {
            return match parsed.kind {
                SecretKind::RefreshToken => refresh_token(conn, &parsed.hash),
                SecretKind::Live | SecretKind::Test => integration_token(conn, &parsed.hash, usage),
                // A client secret is a credential for the token endpoint, never a bearer.
                SecretKind::ClientSecret => Ok(Err(Dead::Unknown)),
            };
        }
        Presented::Jwt { token, .. } => token,
    };
    let claims = match signer.verify(token) {
        Ok(c) => c,
        Err(Rejection::Expired) => return Ok(Err(Dead::Expired)),
        Err(_) => return Ok(Err(Dead::Unknown)),
    };
    if grants::access_token_revoked(conn, &claims.jti, &claims.gid)? {
        return Ok(Err(Dead::Revoked));
    }
    Ok(Ok(Principal {
        kind: TokenKind::AccessToken,
        sub: claims.sub,
        client_id: Some(claims.client_id),
        integration_id: None,
        org: claims.org,
        scopes: claims
            .scope
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        iat: Some(claims.iat),
        exp: Some(claims.exp),
        allow_ips: Vec::new(),
        token_id: None,
        idle: None,
    }))
}

fn integration_token(
    conn: &mut DbConn,
    hash: &SecretHash,
    usage: &UsageRecorder,
) -> Result<Result<Principal, Dead>, StoreError> {
    let Some((token, integration, org)) = IntegrationToken::find_by_hash(conn, &hash.0)? else {
        return Ok(Err(Dead::Unknown));
    };
    let now = clock::now();
    match integrations::token_status(&token, &integration, now) {
        Status::Revoked => return Ok(Err(Dead::Revoked)),
        Status::Expired => {
            // Unused for too long by the store's count, but perhaps used in the last second.
            let ends = [integration.expires_at, token.expires_at]
                .into_iter()
                .flatten()
                .min();
            let ended = ends.is_some_and(|e| e <= now);
            if ended
                || integrations::inactive(&token, &integration, now, usage.recent_use(token.id))
            {
                return Ok(Err(Dead::Expired));
            }
        }
        Status::Active => {}
    }
    let exp = [integration.expires_at, token.expires_at]
        .into_iter()
        .flatten()
        .min();
    Ok(Ok(Principal {
        kind: TokenKind::IntegrationToken,
        sub: integration.id.clone(),
        client_id: None,
        integration_id: Some(integration.id.clone()),
        org,
        scopes: integration
            .scopes
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        iat: Some(clock::unix(token.created_at)),
        exp: exp.map(clock::unix),
        allow_ips: integration
            .allow_ips
            .split_ascii_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect(),
        token_id: Some(token.id),
        idle: integration.inactive_after_secs.map(|limit| {
            let last = integrations::last_use(&token, usage.recent_use(token.id));
            (last, TimeDelta::seconds(limit))
        }),
    }))
}

fn refresh_token(
    conn: &mut DbConn,
    hash: &SecretHash,
) -> Result<Result<Principal, Dead>, StoreError> {
    let Some((row, grant, names)) = RefreshToken::find(conn, &hash.0)? else {
        return Ok(Err(Dead::Unknown));
    };
    let now = clock::now();
    if row.rotated_at.is_some() || grant.revoked_at.is_some() {
        return Ok(Err(Dead::Revoked));
    }
    if row.expires_at <= now || grant.expires_at <= now {
        return Ok(Err(Dead::Expired));
    }
    Ok(Ok(Principal {
        kind: TokenKind::RefreshToken,
        sub: grant.user_id.to_string(),
        client_id: Some(names.client_id),
        integration_id: None,
        org: names.org,
        scopes: row
            .scope
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        iat: Some(clock::unix(row.created_at)),
        exp: Some(clock::unix(row.expires_at)),
        allow_ips: Vec::new(),
        token_id: None,
        idle: None,
    }))
}
