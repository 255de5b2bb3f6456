//! oxide-auth's primitives (`Registrar`, `Authorizer`, `Issuer`) over the diesel store.
//!
//! oxide-auth drives each flow (RFC 6749 §4.1, §6) and calls these to look things up and issue.
//! Its primitives answer only `Ok`/`Err(())`, so this endpoint also records *why* it refused
//! ([`StoreEndpoint::failure`]) and what it issued ([`StoreEndpoint::issued`]); the handlers read
//! those to answer with the precise RFC error (e.g. `invalid_grant` for a replayed code, where
//! oxide-auth alone would say `invalid_request`). See the OAuth issue note for each extension.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use oxide_auth::code_grant::accesstoken as at;
use oxide_auth::code_grant::authorization as az;
use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::code_grant::refresh as rf;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth::primitives::prelude::{Authorizer, Issuer, Registrar, Scope};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, RegistrarError,
};

use super::OAuthContext;
use super::clients::KnownClient;
use crate::clock;
use crate::store::clients::{Client, ClientKind};
use crate::store::grants::{
    AuthorizationCode, Grant as GrantRow, GrantNames, NewCode, RefreshToken,
};
use crate::store::{DbConn, StoreError, write};
use crate::tokens::jwt::AccessClaims;
use crate::tokens::secret::{self, SecretHash, SecretKind};

/// Authorization codes live one minute (RFC 6749 §4.1.2 recommends at most ten).
pub const CODE_TTL: TimeDelta = TimeDelta::seconds(60);

/// Why a token request was refused, in RFC 6749 §5.2 terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: &'static str,
    pub description: &'static str,
}

impl Failure {
    pub const fn new(error: &'static str, description: &'static str) -> Self {
        Failure { error, description }
    }
}

/// What the issuer handed out, for the token response. The access token is signed by the
/// caller once the store work is done, so that no database lock is held while signing.
#[derive(Clone)]
pub struct Issued {
    pub claims: AccessClaims,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub expires_in: u64,
}

/// The signed-in user on whose behalf an authorization code is being issued, the
/// organization the grant binds to, and the scope after role caps.
#[derive(Debug, Clone)]
pub struct Owner {
    pub user_id: i64,
    pub org_id: i64,
    pub scope: String,
}

/// Scope strings are kept sorted so that the same set always reads the same.
pub fn canonical_scope<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = tokens.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v.join(" ")
}

pub struct StoreEndpoint<'a> {
    conn: RefCell<&'a mut DbConn>,
    ctx: &'a OAuthContext,
    /// The client this request is about, loaded once.
    client: RefCell<Option<Arc<KnownClient>>>,
    /// Set by the authorize handler before oxide-auth asks for a code.
    pub owner: Option<Owner>,
    /// The `client_id` a public client presented without a secret (refresh grant).
    pub presented_client_id: Option<String>,
    /// The token request's grant type, which the client must be registered for.
    pub grant_type: Option<&'static str>,
    code: Option<(AuthorizationCode, GrantNames)>,
    refreshing: RefCell<Option<(RefreshToken, GrantRow, GrantNames)>>,
    pub failure: RefCell<Option<Failure>>,
    pub store_error: RefCell<Option<StoreError>>,
    /// The request revoked a token family (a replayed code or refresh token).
    pub revoked_family: Cell<bool>,
    pub issued: Option<Issued>,
    pub pkce_failed: Cell<bool>,
}

impl<'a> StoreEndpoint<'a> {
    pub fn new(conn: &'a mut DbConn, ctx: &'a OAuthContext) -> Self {
        StoreEndpoint {
            conn: RefCell::new(conn),
            ctx,
            client: RefCell::new(None),
            owner: None,
            presented_client_id: None,
            grant_type: None,
            code: None,
            refreshing: RefCell::new(None),
            failure: RefCell::new(None),
            store_error: RefCell::new(None),
            revoked_family: Cell::new(false),
            issued: None,
            pkce_failed: Cell::new(false),
        }
    }

    /// The client as loaded for this request, if any.
    pub fn client(&self) -> Option<Client> {
        self.client.borrow().as_ref().map(|k| k.client.clone())
    }

    fn fail(&self, error: &'static str, description: &'static str) {
        *self.failure.borrow_mut() = Some(Failure::new(error, description));
    }

    fn store_failed(&self, e: StoreError) {
        tracing::warn!(cause = %e, "store error during an OAuth flow");
        *self.store_error.borrow_mut() = Some(e);
    }

    /// Runs `f` on the endpoint's connection, for handler work between flow steps.
    pub fn run<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.borrow_mut();
        f(&mut conn)
    }

    /// Runs `f` on the connection, recording a store error (so the handler answers 503).
    fn with_conn<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>) -> Result<T, ()> {
        let mut conn = self.conn.borrow_mut();
        f(&mut conn).map_err(|e| self.store_failed(e))
    }

    fn load_client(&self, client_id: &str) -> Result<Option<Arc<KnownClient>>, ()> {
        if let Some(c) = self.client.borrow().as_ref() {
            if c.client.client_id == client_id {
                return Ok(Some(c.clone()));
            }
        }
        let found = self.with_conn(|conn| self.ctx.clients.find(conn, client_id))?;
        if let Some(c) = &found {
            *self.client.borrow_mut() = Some(c.clone());
        }
        Ok(found)
    }

    fn pkce_policy(&self) -> Pkce {
        // RFC 7636 is required for public clients, and honoured when a confidential client
        // used it. `plain` is never accepted (RFC 9700 §2.1.1).
        match self.client.borrow().as_ref().map(|c| c.client.kind) {
            Some(ClientKind::Confidential) => Pkce::optional(),
            _ => Pkce::required(),
        }
    }

    fn claims(
        &self,
        user_id: i64,
        names: &GrantNames,
        scope: &str,
        grant_id: &str,
    ) -> AccessClaims {
        self.ctx.signer.claims(
            user_id.to_string(),
            names.client_id.clone(),
            scope.to_string(),
            names.org.clone(),
            grant_id.to_string(),
        )
    }

    /// Revokes a grant in a transaction of its own: the request that found the replay fails,
    /// but the revocation must stand.
    fn revoke_family(&self, grant_id: &str, reason: &str) -> Result<(), ()> {
        let (id, why) = (grant_id.to_string(), reason.to_string());
        let revoked =
            self.with_conn(|conn| write(conn, move |conn| GrantRow::revoke(conn, &id, &why)))?;
        if revoked {
            tracing::warn!(grant = %grant_id, reason, "token family revoked");
        }
        self.revoked_family.set(true);
        Ok(())
    }

    /// A new refresh token's expiry: the grant's absolute end, or sooner with an idle limit.
    fn refresh_expiry(&self, grant_expires_at: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
        match self.ctx.config.refresh_token_idle_ttl {
            Some(idle) => grant_expires_at.min(clock::now() + crate::duration::to_chrono(idle)),
            None => grant_expires_at,
        }
    }
}

impl Registrar for StoreEndpoint<'_> {
    /// RFC 6749 §3.1.2.3 with exact string matching (RFC 9700 §4.1.3). An unknown client or
    /// unregistered URI is `Unspecified`: oxide-auth then refuses to redirect, which the
    /// handler turns into an error page — redirecting there would make Tessera an open
    /// redirector.
    fn bound_redirect<'b>(&self, bound: ClientUrl<'b>) -> Result<BoundClient<'b>, RegistrarError> {
        let client = match self.load_client(&bound.client_id) {
            Ok(Some(c)) => c.client.clone(),
            Ok(None) => return Err(RegistrarError::Unspecified),
            Err(()) => return Err(RegistrarError::PrimitiveError),
        };
        let uri = match &bound.redirect_uri {
            Some(given) => client
                .redirect_uris
                .iter()
                .find(|r| r.as_str() == given.as_str())
                .cloned(),
            // Without a redirect_uri, only an unambiguous registration may be used.
            None if client.redirect_uris.len() == 1 => client.redirect_uris.first().cloned(),
            None => None,
        };
        let uri = uri.ok_or(RegistrarError::Unspecified)?;
        let exact = ExactUrl::new(uri).map_err(|_| RegistrarError::Unspecified)?;
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(exact)),
        })
    }

    /// Without `scope`, the client's registered scopes; with it, only scopes registered for
    /// the client (anything else is `invalid_scope`). Role caps are applied at consent.
    fn negotiate(
        &self,
        bound: BoundClient,
        scope: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = match self.load_client(&bound.client_id) {
            Ok(Some(c)) => c.client.clone(),
            Ok(None) => return Err(RegistrarError::Unspecified),
            Err(()) => return Err(RegistrarError::PrimitiveError),
        };
        let scope = match scope {
            None => canonical_scope(client.scopes.iter().map(String::as_str)),
            Some(requested) => {
                if requested.iter().next().is_none()
                    || !requested
                        .iter()
                        .all(|s| client.scopes.iter().any(|c| c == s))
                {
                    return Err(RegistrarError::Unspecified);
                }
                canonical_scope(requested.iter())
            }
        };
        Ok(PreGrant {
            client_id: bound.client_id.into_owned(),
            redirect_uri: bound.redirect_uri.into_owned(),
            scope: scope.parse().map_err(|_| RegistrarError::Unspecified)?,
        })
    }

    /// Client authentication (RFC 6749 §2.3): a public client presents no secret; a
    /// confidential one presents a secret whose SHA-256 matches a live stored hash.
    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        let client = match self.load_client(client_id) {
            Ok(Some(c)) => c,
            Ok(None) => return Err(RegistrarError::Unspecified),
            Err(()) => return Err(RegistrarError::PrimitiveError),
        };
        let authenticated = match (client.client.kind, passphrase) {
            (ClientKind::Public, None) => Ok(()),
            (ClientKind::Confidential, Some(secret)) => {
                let presented = match std::str::from_utf8(secret) {
                    Ok(s) => SecretHash::of(s),
                    Err(_) => return Err(RegistrarError::Unspecified),
                };
                if client.secret_matches(&presented) {
                    Ok(())
                } else {
                    Err(RegistrarError::Unspecified)
                }
            }
            _ => Err(RegistrarError::Unspecified),
        };
        if authenticated.is_ok() {
            if let Some(grant_type) = self.grant_type {
                if !client.client.allows_grant(grant_type) {
                    self.fail(
                        "unauthorized_client",
                        "this client is not registered for this grant type",
                    );
                    return Err(RegistrarError::Unspecified);
                }
            }
        }
        authenticated
    }
}

impl az::Extension for StoreEndpoint<'_> {
    /// PKCE at the authorization endpoint: remembers the S256 challenge with the code.
    fn extend(&mut self, request: &dyn az::Request) -> Result<Extensions, ()> {
        let pkce = self.pkce_policy();
        let mut extensions = Extensions::new();
        match pkce.challenge(
            request.extension("code_challenge_method"),
            request.extension("code_challenge"),
        ) {
            Ok(Some(value)) => extensions.set(&pkce, value),
            Ok(None) => {}
            Err(()) => {
                self.pkce_failed.set(true);
                return Err(());
            }
        }
        Ok(extensions)
    }
}

impl az::Endpoint for StoreEndpoint<'_> {
    fn registrar(&self) -> &dyn Registrar {
        self
    }

    fn authorizer(&mut self) -> &mut dyn Authorizer {
        self
    }

    fn extension(&mut self) -> &mut dyn az::Extension {
        self
    }
}

impl Authorizer for StoreEndpoint<'_> {
    /// Stores a new authorization code (hashed) bound to client, redirect URI, PKCE challenge,
    /// user, organization and scope, valid for [`CODE_TTL`].
    fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let owner = self.owner.clone().ok_or(())?;
        let client = self.client().ok_or(())?;
        let challenge = grant
            .extensions
            .private()
            .find(|(k, _)| *k == "pkce")
            .and_then(|(_, v)| v.map(str::to_string));
        let code = secret::random_base62(43);
        let hash = SecretHash::of(&code);
        // oxide-auth hands the URI back parsed; the exact registered string is what the
        // token request must repeat, so keep that one.
        let redirect_uri = client
            .redirect_uris
            .iter()
            .find(|r| url::Url::parse(r).ok().as_ref() == Some(&grant.redirect_uri))
            .cloned()
            .unwrap_or_else(|| grant.redirect_uri.to_string());
        // The consent step may have narrowed the requested scope (role caps); never widen it.
        let scope = canonical_scope(
            owner
                .scope
                .split(' ')
                .filter(|s| grant.scope.iter().any(|g| g == *s)),
        );
        let client_pk = client.id;
        self.with_conn(|conn| {
            write(conn, move |conn| {
                AuthorizationCode::insert(
                    conn,
                    &NewCode {
                        hash: &hash,
                        client_pk,
                        user_id: owner.user_id,
                        org_id: owner.org_id,
                        scope: &scope,
                        redirect_uri: &redirect_uri,
                        code_challenge: challenge.as_deref(),
                        expires_at: clock::now() + CODE_TTL,
                    },
                )
            })
        })?;
        Ok(code)
    }

    /// Consumes a code exactly once. A code seen again is a replay (RFC 6749 §4.1.2): the grant
    /// it produced is revoked with everything issued from it.
    fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let hash = SecretHash::of(code);
        let found = self.with_conn(|conn| AuthorizationCode::find(conn, &hash))?;
        let Some((row, names)) = found else {
            self.fail(
                "invalid_grant",
                "the authorization code is unknown or expired",
            );
            return Ok(None);
        };
        if row.consumed_at.is_some() {
            if let Some(grant_id) = &row.grant_id {
                self.revoke_family(grant_id, "authorization code replayed")?;
            }
            self.fail(
                "invalid_grant",
                "the authorization code was already used; tokens issued from it are revoked",
            );
            return Ok(None);
        }
        let mut extensions = Extensions::new();
        if let Some(challenge) = &row.code_challenge {
            extensions.set(&Pkce::optional(), Value::private(Some(challenge.clone())));
        }
        let grant = Grant {
            owner_id: row.user_id.to_string(),
            client_id: names.client_id.clone(),
            scope: row.scope.parse().map_err(|_| ())?,
            redirect_uri: url::Url::parse(&row.redirect_uri).map_err(|_| ())?,
            until: clock::to_utc(row.expires_at),
            extensions,
        };
        self.code = Some((row, names));
        Ok(Some(grant))
    }
}

impl at::Extension for StoreEndpoint<'_> {
    /// PKCE at the token endpoint (RFC 7636 §4.6). A wrong or missing verifier is
    /// `invalid_grant` (oxide-auth would say `invalid_request`), and so is a verifier sent for
    /// a code that had no challenge (RFC 9700 §2.1.1, PKCE downgrade).
    fn extend(
        &mut self,
        request: &dyn at::Request,
        mut data: Extensions,
    ) -> Result<Extensions, ()> {
        let stored = data.remove(&Pkce::optional());
        let verifier = request.extension("code_verifier");
        let ok = match (&stored, &verifier) {
            (None, Some(_)) => false,
            _ => self.pkce_policy().verify(stored, verifier).is_ok(),
        };
        if ok {
            Ok(Extensions::new())
        } else {
            self.fail("invalid_grant", "PKCE verification failed");
            Err(())
        }
    }
}

impl at::Endpoint for StoreEndpoint<'_> {
    fn registrar(&self) -> &dyn Registrar {
        self
    }

    fn authorizer(&mut self) -> &mut dyn Authorizer {
        self
    }

    fn issuer(&mut self) -> &mut dyn Issuer {
        self
    }

    fn extension(&mut self) -> &mut dyn at::Extension {
        self
    }
}

impl rf::Endpoint for StoreEndpoint<'_> {
    fn registrar(&self) -> &dyn Registrar {
        self
    }

    fn issuer(&mut self) -> &mut dyn Issuer {
        self
    }
}

impl Issuer for StoreEndpoint<'_> {
    /// Code exchange: starts a grant (token family), links it to the code, and issues a JWT
    /// access token and — when the client may refresh — a refresh token.
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let (code, names) = self.code.clone().ok_or(())?;
        let client = self.client().ok_or(())?;
        let now = clock::now();
        let family = GrantRow {
            id: secret::random_base62(22),
            client_id: code.client_id,
            user_id: code.user_id,
            org_id: code.org_id,
            scope: code.scope.clone(),
            created_at: now,
            expires_at: now + crate::duration::to_chrono(self.ctx.config.refresh_token_ttl),
            revoked_at: None,
        };
        let refresh = client
            .allows_grant("refresh_token")
            .then(|| secret::mint(&self.ctx.config.token_brand, SecretKind::RefreshToken));
        let refresh_expiry = self.refresh_expiry(family.expires_at);
        // Consuming the code and starting its family is one transaction: of two concurrent
        // exchanges, the second finds the code consumed and revokes what the first issued.
        let (new_family, code_id) = (family.clone(), code.id);
        let refresh_hash = refresh.as_ref().map(|r| r.hash);
        let consumed = self.with_conn(|conn| {
            write(conn, move |conn| {
                let family = new_family;
                GrantRow::insert(conn, &family)?;
                if !AuthorizationCode::consume(conn, code_id, &family.id)? {
                    GrantRow::delete_unused(conn, &family.id)?;
                    if let Some(grant_id) = AuthorizationCode::grant_of(conn, code_id)? {
                        GrantRow::revoke(conn, &grant_id, "authorization code replayed")?;
                    }
                    return Ok(false);
                }
                if let Some(hash) = &refresh_hash {
                    RefreshToken::insert(conn, hash, &family.id, &family.scope, refresh_expiry)?;
                }
                Ok(true)
            })
        })?;
        if !consumed {
            self.revoked_family.set(true);
            self.fail(
                "invalid_grant",
                "the authorization code was already used; tokens issued from it are revoked",
            );
            return Err(());
        }
        let scope = canonical_scope(grant.scope.iter());
        let ttl = self.ctx.signer.ttl();
        self.issued = Some(Issued {
            claims: self.claims(code.user_id, &names, &scope, &family.id),
            refresh_token: refresh.as_ref().map(|r| r.plaintext.clone()),
            scope,
            expires_in: ttl.as_secs(),
        });
        Ok(IssuedToken {
            token: String::new(),
            refresh: refresh.map(|r| r.plaintext),
            until: Utc::now() + TimeDelta::seconds(ttl.as_secs() as i64),
            token_type: TokenType::Bearer,
        })
    }

    /// Refresh with rotation (RFC 9700 §4.14.2): the presented token is marked rotated — once;
    /// losing that race means the token was used twice, so the family is revoked.
    fn refresh(&mut self, _token: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let (row, family, names) = self.refreshing.borrow().clone().ok_or(())?;
        let next = secret::mint(&self.ctx.config.token_brand, SecretKind::RefreshToken);
        let expiry = self.refresh_expiry(family.expires_at);
        let (row_id, family_id, family_scope, next_hash) =
            (row.id, family.id.clone(), row.scope.clone(), next.hash);
        let rotated = self.with_conn(|conn| {
            write(conn, move |conn| {
                if !RefreshToken::rotate(conn, row_id)? {
                    GrantRow::revoke(conn, &family_id, "refresh token reuse")?;
                    return Ok(false);
                }
                // The successor keeps the family's scope (RFC 6749 §6); only this access
                // token may be narrower.
                RefreshToken::insert(conn, &next_hash, &family_id, &family_scope, expiry)?;
                Ok(true)
            })
        })?;
        if !rotated {
            self.revoked_family.set(true);
            self.fail(
                "invalid_grant",
                "the refresh token was already used; its grant is revoked",
            );
            return Err(());
        }
        let scope = canonical_scope(grant.scope.iter());
        let ttl = self.ctx.signer.ttl();
        self.issued = Some(Issued {
            claims: self.claims(family.user_id, &names, &scope, &family.id),
            refresh_token: Some(next.plaintext.clone()),
            scope,
            expires_in: ttl.as_secs(),
        });
        Ok(RefreshedToken {
            token: String::new(),
            refresh: Some(next.plaintext),
            until: Utc::now() + TimeDelta::seconds(ttl.as_secs() as i64),
            token_type: TokenType::Bearer,
        })
    }

    fn recover_token<'b>(&'b self, _: &'b str) -> Result<Option<Grant>, ()> {
        // Access tokens are JWTs, checked by `access`, never through oxide-auth.
        Ok(None)
    }

    /// Finds a live refresh token. A token that was already rotated is reuse: the whole family
    /// is revoked (RFC 9700 §4.14.2) and the request fails.
    fn recover_refresh<'b>(&'b self, token: &'b str) -> Result<Option<Grant>, ()> {
        let Some(parsed) = secret::parse(&self.ctx.config.token_brand, token)
            .filter(|p| p.kind == SecretKind::RefreshToken)
        else {
            self.fail("invalid_grant", "the refresh token is invalid");
            return Ok(None);
        };
        let found = self.with_conn(|conn| RefreshToken::find(conn, &parsed.hash))?;
        let Some((row, family, names)) = found else {
            self.fail("invalid_grant", "the refresh token is invalid");
            return Ok(None);
        };
        let now = clock::now();
        if row.rotated_at.is_some() {
            self.revoke_family(&family.id, "refresh token reuse")?;
            self.fail(
                "invalid_grant",
                "the refresh token was already used; its grant is revoked",
            );
            return Ok(None);
        }
        if !family.is_live(now) || row.expires_at <= now {
            self.fail(
                "invalid_grant",
                "the refresh token has expired or was revoked",
            );
            return Ok(None);
        }
        if let Some(presented) = &self.presented_client_id {
            if presented != &names.client_id {
                self.fail(
                    "invalid_grant",
                    "the refresh token was issued to another client",
                );
                return Ok(None);
            }
        }
        let grant = Grant {
            owner_id: family.user_id.to_string(),
            client_id: names.client_id.clone(),
            scope: row.scope.parse().map_err(|_| ())?,
            redirect_uri: url::Url::parse(&self.ctx.config.issuer).map_err(|_| ())?,
            until: clock::to_utc(row.expires_at),
            extensions: Extensions::new(),
        };
        *self.refreshing.borrow_mut() = Some((row, family, names));
        Ok(Some(grant))
    }
}
