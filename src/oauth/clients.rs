//! Registered clients as the OAuth endpoints see them, kept in memory between requests, and
//! client authentication (RFC 6749 §2.3) — the one place every endpoint authenticates a client.
//!
//! Every token request authenticates its client, which would cost two look-ups each time. The
//! directory keeps each client (with its secrets' hashes and ends) for up to the check-cache
//! lifetime, and forgets everything when the revocation epoch moves — which registering a
//! client or rotating a secret does, here or through the feed — so a rotation is honoured as
//! promptly as a revocation. Secret ends are compared at use, so a grace period ends on time.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::errors::Refusal;
use super::params::ClientCredentials;
use crate::config::Limits;
use crate::limits::FailureLimiter;
use crate::revocation::{DecisionCache, Epoch};
use crate::store::clients::{Client, ClientKind};
use crate::store::{DbConn, StoreError, StoreResult};
use crate::tokens::secret::SecretHash;

pub(crate) struct KnownClient {
    pub(crate) client: Client,
    secrets: Vec<(Vec<u8>, Option<NaiveDateTime>)>,
}

impl KnownClient {
    /// Whether `presented` is one of the client's live secrets. Every stored secret is
    /// compared, in constant time, without stopping at a match.
    pub(crate) fn secret_matches(&self, presented: &SecretHash) -> bool {
        let now = crate::clock::now();
        self.secrets
            .iter()
            .filter(|(_, ends)| ends.is_none_or(|e| e > now))
            .fold(false, |matched, (hash, _)| {
                presented.matches(hash) | matched
            })
    }
}

/// Whether a browser page on `origin` may call the token and revocation endpoints for this
/// client (CORS): the client's own list when it has one; otherwise, for a public client (a
/// single-page app), the origins of its registered redirect URIs. A confidential client runs on
/// a server and needs no CORS unless it names origins.
pub(crate) fn allows_origin(client: &Client, origin: &str) -> bool {
    if !client.cors_origins.is_empty() {
        return client.cors_origins.iter().any(|o| o == origin);
    }
    client.kind == ClientKind::Public
        && client.redirect_uris.iter().any(|uri| {
            url::Url::parse(uri).is_ok_and(|u| {
                let o = u.origin();
                o.is_tuple() && o.ascii_serialization() == origin
            })
        })
}

const CAPACITY: usize = 10_000;

pub(crate) struct ClientDirectory {
    cache: DecisionCache<Option<Arc<KnownClient>>>,
    /// Failed authentications per source address: over budget, refused before checking.
    failures_per_ip: FailureLimiter<IpAddr>,
    /// Failed authentications per registered client: over budget, a failure is answered 429.
    /// A right secret still authenticates, so wrong guesses cannot lock the client out.
    failures_per_client: FailureLimiter<String>,
    /// Whether an origin is allowed for any client (CORS preflights carry no client id).
    origins: DecisionCache<bool>,
}

impl ClientDirectory {
    pub(crate) fn new(ttl: Duration, epoch: Arc<Epoch>, limits: &Limits) -> ClientDirectory {
        ClientDirectory {
            failures_per_ip: FailureLimiter::new(
                "client_auth_address",
                limits.client_auth_failures,
            ),
            failures_per_client: FailureLimiter::new(
                "client_auth_client",
                limits.client_auth_failures,
            ),
            cache: DecisionCache::new(ttl, CAPACITY, epoch.clone()),
            origins: DecisionCache::new(ttl, CAPACITY, epoch),
        }
    }

    /// The client with this public id, if registered.
    pub(crate) fn find(
        &self,
        conn: &mut DbConn,
        client_id: &str,
    ) -> StoreResult<Option<Arc<KnownClient>>> {
        self.lookup(conn, client_id).map(|(known, _)| known)
    }

    /// Like [`Self::find`], and whether the answer came from the cache (rather than the store
    /// just now).
    fn lookup(
        &self,
        conn: &mut DbConn,
        client_id: &str,
    ) -> StoreResult<(Option<Arc<KnownClient>>, bool)> {
        if let Some((known, ..)) = self.cache.get(&Self::key(client_id)) {
            return Ok((known, true));
        }
        Ok((self.read(conn, client_id)?, false))
    }

    /// The client as the store has it now, cached again. Before a credential is refused on
    /// what the cache knew, the store is asked: a client registered, or a secret rotated, by
    /// the CLI or another instance a moment ago must work at once.
    pub(crate) fn read(
        &self,
        conn: &mut DbConn,
        client_id: &str,
    ) -> StoreResult<Option<Arc<KnownClient>>> {
        let generation = self.cache.generation();
        let known = match Client::find(conn, client_id) {
            Ok(client) => {
                let secrets = Client::unexpired_secrets(conn, client.id)?;
                Some(Arc::new(KnownClient { client, secrets }))
            }
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.cache
            .insert(Self::key(client_id), known.clone(), generation);
        Ok(known)
    }

    /// Whether some client allows browser calls from `origin` (a CORS preflight names no
    /// client; the answer to the request itself is decided for its own client).
    pub(crate) fn origin_allowed_for_any(
        &self,
        conn: &mut DbConn,
        origin: &str,
    ) -> StoreResult<bool> {
        // Only a well-formed origin, as browsers serialise it, is looked up at all.
        if crate::validate::origin(origin).ok().as_deref() != Some(origin) {
            return Ok(false);
        }
        let key = SecretHash::of(&format!("origin {origin}")).0;
        if let Some((allowed, ..)) = self.origins.get(&key) {
            return Ok(allowed);
        }
        let generation = self.origins.generation();
        let allowed = Client::list_all(conn)?
            .iter()
            .any(|c| allows_origin(c, origin));
        self.origins.insert(key, allowed, generation);
        Ok(allowed)
    }

    fn key(client_id: &str) -> [u8; 32] {
        SecretHash::of(client_id).0
    }
}

/// Client authentication (RFC 6749 §2.3): a public client presents its `client_id` and no
/// secret; a confidential one a secret whose SHA-256 matches one of its live secrets (Basic or
/// body, RFC 6749 §2.3.1 — already merged by [`super::params`]). Every failure is the same
/// `invalid_client`, so the answer does not tell which part was wrong.
///
/// Brute force (RFC 6749 §2.3.1 "MUST protect … against brute force attacks"): failures are
/// counted per `source` address and per registered client (`TESSERA_CLIENT_AUTH_LIMIT`). An
/// address over its budget is refused, 429 `too_many_requests`, before anything is checked; a
/// client over its budget gets 429 for each further *failure*, while its right secret still
/// works.
pub(crate) fn authenticate(
    conn: &mut DbConn,
    directory: &ClientDirectory,
    credentials: Option<&ClientCredentials>,
    source: Option<IpAddr>,
) -> Result<Result<Arc<KnownClient>, Refusal>, StoreError> {
    let source = source.map(crate::limits::address_key);
    if let Some(wait) = source.and_then(|ip| directory.failures_per_ip.blocked(&ip)) {
        return Ok(Err(Refusal::too_many_failures(wait)));
    }
    let (outcome, registered) = check_credentials(conn, directory, credentials)?;
    let Err(refusal) = outcome else {
        return Ok(outcome);
    };
    let over_ip = source.and_then(|ip| directory.failures_per_ip.failed(&ip));
    // Only registered clients are counted: made-up ids would only fill the map.
    let over_client = match credentials {
        Some(c) if registered => directory.failures_per_client.failed(&c.client_id),
        _ => None,
    };
    Ok(Err(match over_ip.or(over_client) {
        Some(wait) => {
            tracing::info!(
                client_id = credentials.map_or("", |c| c.client_id.as_str()),
                "client authentication failures over the limit"
            );
            Refusal::too_many_failures(wait)
        }
        None => refusal,
    }))
}

/// The credentials checked, and whether they name a registered client.
type Checked = (Result<Arc<KnownClient>, Refusal>, bool);

fn check_credentials(
    conn: &mut DbConn,
    directory: &ClientDirectory,
    credentials: Option<&ClientCredentials>,
) -> Result<Checked, StoreError> {
    let Some(credentials) = credentials else {
        return Ok((
            Err(Refusal::new(
                super::errors::OAuthError::InvalidClient,
                "client authentication is required",
            )),
            false,
        ));
    };
    let presented = credentials.secret.as_deref().map(SecretHash::of);
    let authenticates = |known: &KnownClient| match (known.client.kind, &presented) {
        (ClientKind::Public, None) => true,
        (ClientKind::Confidential, Some(secret)) => known.secret_matches(secret),
        _ => false,
    };
    let (known, cached) = directory.lookup(conn, &credentials.client_id)?;
    match known {
        Some(known) if authenticates(&known) => return Ok((Ok(known), true)),
        // Refused on what the store says now.
        known if !cached => return Ok((Err(Refusal::invalid_client()), known.is_some())),
        _ => {}
    }
    // Refused on what the cache knew: ask the store before answering.
    match directory.read(conn, &credentials.client_id)? {
        Some(known) if authenticates(&known) => Ok((Ok(known), true)),
        known => Ok((Err(Refusal::invalid_client()), known.is_some())),
    }
}

/// The origin a browser answer for `client_id` may name in `Access-Control-Allow-Origin`:
/// `origin` when that client allows it, else none.
pub(crate) fn cors_origin_for(
    conn: &mut DbConn,
    directory: &ClientDirectory,
    client_id: Option<&str>,
    origin: Option<String>,
) -> StoreResult<Option<String>> {
    let (Some(client_id), Some(origin)) = (client_id, origin) else {
        return Ok(None);
    };
    Ok(directory
        .find(conn, client_id)?
        .filter(|known| allows_origin(&known.client, &origin))
        .map(|_| origin))
}
