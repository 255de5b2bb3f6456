//! OAuth 2.0, as plain Rust over the store: the authorization endpoint's decision with sign-in
//! and consent ([`authorize`], [`login`]), the token endpoint's grants ([`grants`]), client
//! authentication ([`clients`]), PKCE ([`pkce`]), revocation ([`revoke`]) and introspection's
//! answer ([`introspect`]). Nothing here knows HTTP: the HTTP layer reads requests, calls
//! these, and writes the answers.
//!
//! oxide-auth drives the protocol: each flow advances one of its state machines
//! (`code_grant::authorization::Authorization`, `accesstoken::AccessToken`,
//! `refresh::Refresh`) and answers every step from the store.
//!
//! Imports: `store`, `tokens`, `revocation` (the client cache obeys it), `access` (what a
//! token is, for introspection), foundations. Never `web`.

pub(crate) mod authorize;
pub(crate) mod clients;
pub(crate) mod errors;
pub(crate) mod grants;
pub(crate) mod introspect;
pub(crate) mod login;
pub(crate) mod params;
pub(crate) mod pkce;
pub(crate) mod revoke;
pub(crate) mod session;

use std::sync::Arc;

use chrono::TimeDelta;

use crate::config::Config;
use crate::tokens::jwt::AccessTokenSigner;

/// What the OAuth flows need besides a connection. Cheap to clone into blocking closures.
#[derive(Clone)]
pub(crate) struct OAuthContext {
    pub(crate) config: Arc<Config>,
    pub(crate) signer: Arc<AccessTokenSigner>,
    pub(crate) clients: Arc<clients::ClientDirectory>,
    /// The per-address sign-in budget and the bound on concurrent password checks.
    pub(crate) sign_in: Arc<login::SignInGuard>,
}

/// Authorization codes live one minute (RFC 6749 §4.1.2 recommends at most ten).
pub(crate) const CODE_TTL: TimeDelta = TimeDelta::seconds(60);

/// Scope strings are kept sorted so that the same set always reads the same.
pub(crate) fn canonical_scope<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = tokens.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v.join(" ")
}
