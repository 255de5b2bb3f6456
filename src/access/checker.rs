//! The resource-server decision with its cache, shared by `/v1/check` and introspection.
//!
//! [`Checker::lookup`] answers steps 1–3 (shape, look-up, alive) from the [`DecisionCache`]
//! or the store; [`Checker::verdict`] steps 4–5 (IP allowlist, scopes). A decision carries
//! the check answer's body and `X-Auth-*` header values rendered once, so a cached allow is
//! served without serialising anything.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;

use super::{Dead, Presented, Principal, TokenKind, classify, identify};
use crate::integrations::usage::UsageRecorder;
use crate::revocation::{DecisionCache, Epoch};
use crate::store::{Db, StoreError};
use crate::telemetry::metrics::{self, CheckOutcome, CheckToken};
use crate::tokens::jwt::AccessTokenSigner;
use crate::tokens::secret::SecretKind;

const CACHE_CAPACITY: usize = 100_000;

/// A decision about one token, as cached: the principal (or why there is none) and the check
/// endpoint's 200 answer rendered once — the JSON body and the `X-Auth-*` headers (lower-case
/// names; values are visible ASCII, so every one is a valid header value).
pub(crate) struct Decision {
    pub(crate) result: Result<Principal, Dead>,
    pub(crate) body: Bytes,
    pub(crate) headers: Vec<(&'static str, Bytes)>,
    /// The token's kind by its shape, the label of the check's metric.
    pub(crate) token: CheckToken,
}

/// `/v1/check`'s 200 body: who the token speaks for and what it may do.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CheckAllowed)]
pub(crate) struct Allowed<'a> {
    /// Always `true`.
    active: bool,
    token_type: TokenKind,
    /// The user, or the integration (`integration:<id>`).
    #[schema(value_type = String)]
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false)]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false)]
    integration_id: Option<&'a str>,
    /// The organization's slug.
    #[schema(value_type = String)]
    org: &'a str,
    /// Space-separated scopes.
    scope: String,
    /// Seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    exp: Option<i64>,
}

impl Decision {
    fn new(result: Result<Principal, Dead>, token: CheckToken) -> Decision {
        let (body, headers) = match &result {
            Ok(p) => render(p),
            Err(_) => (Bytes::new(), Vec::new()),
        };
        Decision {
            result,
            body,
            headers,
            token,
        }
    }
}

fn render(p: &Principal) -> (Bytes, Vec<(&'static str, Bytes)>) {
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
    // RFC 9110 §5.5: a field value is visible ASCII, space and tab; anything else (which
    // no Tessera-made value holds) is left out rather than sent.
    let mut add = |name: &'static str, value: &str| {
        if value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            headers.push((name, Bytes::copy_from_slice(value.as_bytes())));
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
pub(crate) enum Verdict {
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

pub(crate) struct Checker {
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
    pub(crate) fn new(
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

    /// Counts a use of an integration token that was not a check (an introspection).
    pub(crate) fn record_use(&self, token_id: i64) {
        self.usage.record(token_id, None);
    }

    /// A token's kind by its shape, as the check's metric labels it (for a check that got no
    /// decision: the store could not answer).
    pub(crate) fn token_kind(&self, token: &str) -> CheckToken {
        classify(&self.brand, token).map_or(CheckToken::Unknown, |p| p.metric_label())
    }

    /// A revocation happened on this instance: stop serving earlier decisions at once.
    pub(crate) fn invalidate(&self) {
        self.epoch.bump();
    }

    /// Steps 1–3 of the decision: shape and checksum (no store touched for garbage), look-up
    /// (from the cache or the store), revoked / expired / inactive.
    pub(crate) async fn lookup(self: &Arc<Self>, token: &str) -> Result<Arc<Decision>, StoreError> {
        let Some(presented) = classify(&self.brand, token) else {
            // Neither a well-formed opaque token (checksum) nor a JWT.
            return Ok(Arc::new(Decision::new(
                Err(Dead::Malformed),
                CheckToken::Unknown,
            )));
        };
        // Refresh tokens are never bearer credentials; their answer (introspection) must see
        // rotation at once, so it is never cached.
        let cacheable =
            !matches!(&presented, Presented::Opaque(p) if p.kind == SecretKind::RefreshToken);
        let key = presented.hash().0;
        if cacheable {
            if let Some((hit, age, max_age)) = self.cache.get(&key) {
                let serve = match &hit.result {
                    Ok(p) if p.exp.is_some_and(|exp| exp <= unix_now()) => {
                        metrics::decision_cache(true);
                        return Ok(Arc::new(Decision::new(Err(Dead::Expired), hit.token)));
                    }
                    // Past the inactivity deadline as this entry knows it: perhaps used since
                    // (elsewhere, or written by the flusher), perhaps not — the store says.
                    Ok(p) => !self.idle_deadline_passed(p),
                    // An opaque token unknown when this was decided may have been created since
                    // (by the CLI or another instance): never refuse it without asking the
                    // store. (A JWT cannot come to exist later; its refusal stays cached.)
                    Err(Dead::Unknown) => !matches!(presented, Presented::Opaque(_)),
                    Err(_) => true,
                };
                if serve {
                    metrics::decision_cache(true);
                    // Past half its life, an entry in use is renewed in the background, so
                    // that a busy token never makes its callers wait for the store when the
                    // entry ends.
                    if age > max_age / 2 {
                        self.refresh_in_background(presented.into_owned());
                    }
                    return Ok(hit);
                }
            }
            metrics::decision_cache(false);
        }
        self.decide(presented.into_owned(), cacheable).await
    }

    /// Whether an integration token's inactivity deadline, as known to a cached principal and
    /// the uses recorded since, has passed.
    fn idle_deadline_passed(&self, p: &Principal) -> bool {
        let (Some((last, limit)), Some(id)) = (p.idle, p.token_id) else {
            return false;
        };
        let last = self
            .usage
            .recent_use(id)
            .map_or(last, |recent| recent.max(last));
        crate::clock::now() - last > limit
    }

    /// Asks the store and caches the answer.
    async fn decide(
        &self,
        presented: Presented<'static>,
        cacheable: bool,
    ) -> Result<Arc<Decision>, StoreError> {
        let key = presented.hash().0;
        let token = presented.metric_label();
        // Read before deciding: a revocation during the look-up then retires this entry.
        let generation = self.cache.generation();
        let signer = self.signer.clone();
        let usage = self.usage.clone();
        let result = self
            .db
            .run(move |conn| identify(conn, &signer, &usage, &presented))
            .await?;
        let decision = Arc::new(Decision::new(result, token));
        if cacheable {
            self.cache.insert(key, decision.clone(), generation);
        }
        Ok(decision)
    }

    fn refresh_in_background(self: &Arc<Self>, presented: Presented<'static>) {
        let key = presented.hash().0;
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
        tokio::spawn(async move {
            if let Err(e) = this.decide(presented, true).await {
                tracing::debug!(cause = %e, "background refresh of a check decision failed");
            }
            match this.refreshing.lock() {
                Ok(mut r) => r.remove(&key),
                Err(poisoned) => poisoned.into_inner().remove(&key),
            };
        });
    }

    /// Steps 4–5: the IP allowlist, then the scopes. Refresh tokens (and anything dead) are
    /// never bearer credentials. Counted (`tessera_check_decisions_total`).
    pub(crate) fn verdict(
        &self,
        decision: Arc<Decision>,
        ip: Option<IpAddr>,
        required: &[&str],
    ) -> Verdict {
        let token = decision.token;
        let verdict = self.judge(decision, ip, required);
        let outcome = match &verdict {
            Verdict::Allow(_) => CheckOutcome::Allow,
            Verdict::Unauthorized { .. } => CheckOutcome::Unauthorized,
            Verdict::ForbiddenScope { .. } => CheckOutcome::ForbiddenScope,
        };
        metrics::check_decision(outcome, token);
        verdict
    }

    fn judge(&self, decision: Arc<Decision>, ip: Option<IpAddr>, required: &[&str]) -> Verdict {
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
        if let Some(missing) = required.iter().find(|s| !p.scopes.iter().any(|h| h == *s)) {
            return Verdict::ForbiddenScope {
                missing: missing.to_string(),
            };
        }
        // Only an allowed request is a use: a refused one must not keep an idle token alive.
        if let Some(id) = p.token_id {
            self.usage.record(id, ip);
        }
        Verdict::Allow(decision)
    }
}
