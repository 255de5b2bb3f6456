//! The resource-server decision with its cache, shared by `/v1/check` and introspection.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use serde::Serialize;

use super::cache::DecisionCache;
use super::feed::Epoch;
use super::{Dead, MAX_TOKEN_LEN, Principal, TokenKind, identify, looks_like_jwt};
use crate::integrations::usage::UsageRecorder;
use crate::store::{Db, StoreError};
use crate::tokens::jwt::AccessTokenSigner;
use crate::tokens::secret::{self, SecretHash, SecretKind};

const CACHE_CAPACITY: usize = 100_000;

/// A decision about one token, as cached: the principal (or why there is none) and the 200
/// answer rendered once.
pub struct Decision {
    pub result: Result<Principal, Dead>,
    pub body: Bytes,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct Allowed<'a> {
    active: bool,
    token_type: TokenKind,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    integration_id: Option<&'a str>,
    org: &'a str,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

impl Decision {
    fn new(result: Result<Principal, Dead>) -> Decision {
        let (body, headers) = match &result {
            Ok(p) => render(p),
            Err(_) => (Bytes::new(), Vec::new()),
        };
        Decision {
            result,
            body,
            headers,
        }
    }
}

fn render(p: &Principal) -> (Bytes, Vec<(HeaderName, HeaderValue)>) {
    let scope = p.scopes.join(" ");
    let allowed = Allowed {
        active: true,
        token_type: p.kind,
        sub: &p.sub,
        client_id: p.client_id.as_deref(),
        integration_id: p.integration_id.as_deref(),
        org: &p.org,
        scope: scope.clone(),
        exp: p.exp,
    };
    let body = serde_json::to_vec(&allowed)
        .map(Bytes::from)
        .unwrap_or_default();
    let mut headers = Vec::new();
    let mut add = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.push((HeaderName::from_static(name), v));
        }
    };
    add("x-auth-subject", &p.sub);
    add("x-auth-org", &p.org);
    add("x-auth-scope", &scope);
    add(
        "x-auth-token-type",
        match p.kind {
            TokenKind::AccessToken => "access_token",
            TokenKind::RefreshToken => "refresh_token",
            TokenKind::IntegrationToken => "integration_token",
        },
    );
    if let Some(c) = &p.client_id {
        add("x-auth-client-id", c);
    }
    if let Some(i) = &p.integration_id {
        add("x-auth-integration-id", i);
    }
    (body, headers)
}

/// What `/v1/check` answers.
pub enum Verdict {
    Allow(Arc<Decision>),
    /// 401: no token, or one that is not a live bearer credential usable from here.
    Unauthorized {
        token_given: bool,
    },
    /// 403: a live token lacking this scope.
    ForbiddenScope {
        missing: String,
    },
}

pub struct Checker {
    db: Db,
    signer: Arc<AccessTokenSigner>,
    brand: String,
    usage: Arc<UsageRecorder>,
    cache: DecisionCache<Arc<Decision>>,
    /// Keys being renewed in the background, so that each is renewed once at a time.
    refreshing: Mutex<HashSet<[u8; 32]>>,
    epoch: Arc<Epoch>,
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Checker {
    pub fn new(
        db: Db,
        signer: Arc<AccessTokenSigner>,
        brand: String,
        usage: Arc<UsageRecorder>,
        ttl: std::time::Duration,
        epoch: Arc<Epoch>,
    ) -> Checker {
        Checker {
            db,
            signer,
            brand,
            usage,
            cache: DecisionCache::new(ttl, CACHE_CAPACITY, epoch.clone()),
            refreshing: Mutex::new(HashSet::new()),
            epoch,
        }
    }

    pub fn usage(&self) -> &UsageRecorder {
        &self.usage
    }

    /// A revocation happened on this instance: stop serving earlier decisions at once.
    pub fn invalidate(&self) {
        self.epoch.bump();
    }

    /// Steps 1–3 of the decision: shape and checksum (no store touched for garbage), look-up
    /// (from the cache or the store), revoked / expired / inactive.
    pub async fn lookup(self: &Arc<Self>, token: &str) -> Result<Arc<Decision>, StoreError> {
        // The shape checks below admit only ASCII letters, digits and `_-.`.
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(Arc::new(Decision::new(Err(Dead::Malformed))));
        }
        let (key, cacheable) = match secret::parse(&self.brand, token) {
            Some(p) => (p.hash, p.kind != SecretKind::RefreshToken),
            None if looks_like_jwt(token) => (SecretHash::of(token), true),
            // Neither a well-formed opaque token (checksum) nor a JWT.
            None => return Ok(Arc::new(Decision::new(Err(Dead::Malformed)))),
        };
        if cacheable {
            if let Some((hit, age, max_age)) = self.cache.get(&key.0) {
                // Past half its life, an entry in use is renewed in the background, so that a
                // busy token never makes its callers wait for the store when the entry ends.
                if age > max_age / 2 {
                    self.refresh_in_background(key.0, token);
                }
                return Ok(match &hit.result {
                    Ok(p) if p.exp.is_some_and(|exp| exp <= unix_now()) => {
                        Arc::new(Decision::new(Err(Dead::Expired)))
                    }
                    _ => hit,
                });
            }
        }
        self.decide(key.0, token.to_string(), cacheable).await
    }

    /// Asks the store and caches the answer.
    async fn decide(
        &self,
        key: [u8; 32],
        token: String,
        cacheable: bool,
    ) -> Result<Arc<Decision>, StoreError> {
        // Read before deciding: a revocation during the look-up then retires this entry.
        let generation = self.cache.generation();
        let signer = self.signer.clone();
        let brand = self.brand.clone();
        let usage = self.usage.clone();
        let result = self
            .db
            .run(move |conn| identify(conn, &signer, &brand, &usage, &token))
            .await?;
        let decision = Arc::new(Decision::new(result));
        if cacheable {
            self.cache.insert(key, decision.clone(), generation);
        }
        Ok(decision)
    }

    fn refresh_in_background(self: &Arc<Self>, key: [u8; 32], token: &str) {
        {
            let mut refreshing = match self.refreshing.lock() {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !refreshing.insert(key) {
                return;
            }
        }
        let this = self.clone();
        let token = token.to_string();
        actix_web::rt::spawn(async move {
            if let Err(e) = this.decide(key, token, true).await {
                tracing::debug!(cause = %e, "background refresh of a check decision failed");
            }
            match this.refreshing.lock() {
                Ok(mut r) => r.remove(&key),
                Err(poisoned) => poisoned.into_inner().remove(&key),
            };
        });
    }

    /// Steps 4–5: the IP allowlist, then the scopes. Refresh tokens (and anything dead) are
    /// never bearer credentials.
    pub fn verdict(
        &self,
        decision: Arc<Decision>,
        ip: Option<IpAddr>,
        required: &[&str],
    ) -> Verdict {
        let Ok(p) = &decision.result else {
            return Verdict::Unauthorized { token_given: true };
        };
        if p.kind == TokenKind::RefreshToken {
            return Verdict::Unauthorized { token_given: true };
        }
        if !p.allow_ips.is_empty()
            && !ip.is_some_and(|ip| p.allow_ips.iter().any(|n| n.contains(&ip)))
        {
            return Verdict::Unauthorized { token_given: true };
        }
        if let Some(id) = p.token_id {
            self.usage.record(id, ip);
        }
        match required.iter().find(|s| !p.scopes.iter().any(|h| h == *s)) {
            Some(missing) => Verdict::ForbiddenScope {
                missing: missing.to_string(),
            },
            None => Verdict::Allow(decision),
        }
    }
}
