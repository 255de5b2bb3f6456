//! Prometheus metrics: every name Tessera exports, and the small functions the rest of the code
//! records through. Served as text (Prometheus exposition format 0.0.4) by the metrics
//! listener (`web::metrics`, `TESSERA_METRICS_BIND`), never by the public one.
//!
//! One recorder per process — the `metrics` facade's global one, rendered by
//! `metrics-exporter-prometheus` — installed by [`install`] when a server with a metrics
//! listener starts. Until then (the CLI, unit tests, `TESSERA_METRICS_BIND=off`) every
//! recording function is one atomic load and returns. Several servers in one process (the
//! integration tests) share the recorder: their counts add up.
//!
//! **Cost.** Every series of a fixed label set is resolved once, at [`install`], into a handle
//! kept in a static: recording is an atomic add (a histogram sample: a lock-free push, with an
//! allocation per 64 samples), never a registry look-up or a label allocation. The HTTP series
//! are resolved on first use by the web layer ([`HttpSeries`]), which keeps them.
//!
//! **Cardinality.** Label values come from the fixed sets below, plus the HTTP route, which is
//! a route *template* of the route table (`/v1/orgs/{org}/integrations/{id}`, never the
//! path). No label carries a token, an organization, a user, a client id or an IP address.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `http_server_requests_total` | counter | `method`, `route`, `status_class` | requests answered by the public listener |
//! | `http_server_request_duration_seconds` | histogram | `method`, `route`, `status_class` | their time, from the request's head read to the response's head written |
//! | `tessera_check_decisions_total` | counter | `outcome`, `token_kind` | `/v1/check` answers |
//! | `tessera_decision_cache_total` | counter | `result` | check look-ups answered from memory (`hit`) or the store (`miss`) |
//! | `tessera_revocation_feed_lag_seconds` | gauge | | age of this instance's last successful read of the revocation feed |
//! | `tessera_db_pool_connections` | gauge | `state` | pooled connections `idle` and `in_use` |
//! | `tessera_db_pool_max_connections` | gauge | | the pool's size (`TESSERA_DB_POOL_SIZE`) |
//! | `tessera_db_errors_total` | counter | `kind` | database failures |
//! | `tessera_tokens_issued_total` | counter | `grant_type` | token responses of `/oauth/token` |
//! | `tessera_refresh_reuse_detected_total` | counter | | refresh tokens presented again after rotation (family revoked) |
//! | `tessera_authorization_code_replays_total` | counter | | authorization codes presented again (grant revoked) |
//! | `tessera_rate_limited_total` | counter | `limit` | requests refused by a rate limit |
//! | `tessera_sign_in_failures_total` | counter | | failed sign-ins |
//! | `tessera_account_lockouts_total` | counter | | accounts locked after failed sign-ins |
//! | `tessera_webhook_delivery_attempts_total` | counter | `outcome` | webhook delivery attempts |
//! | `tessera_webhook_delivery_duration_seconds` | histogram | | their time, connection included |

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{
    Counter, Gauge, Histogram, SharedString, Unit, counter, describe_counter, describe_gauge,
    describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub(crate) const HTTP_REQUESTS: &str = "http_server_requests_total";
pub(crate) const HTTP_DURATION: &str = "http_server_request_duration_seconds";
pub(crate) const CHECK_DECISIONS: &str = "tessera_check_decisions_total";
pub(crate) const DECISION_CACHE: &str = "tessera_decision_cache_total";
pub(crate) const FEED_LAG: &str = "tessera_revocation_feed_lag_seconds";
pub(crate) const POOL_CONNECTIONS: &str = "tessera_db_pool_connections";
pub(crate) const POOL_MAX: &str = "tessera_db_pool_max_connections";
pub(crate) const DB_ERRORS: &str = "tessera_db_errors_total";
pub(crate) const TOKENS_ISSUED: &str = "tessera_tokens_issued_total";
pub(crate) const REFRESH_REUSE: &str = "tessera_refresh_reuse_detected_total";
pub(crate) const CODE_REPLAYS: &str = "tessera_authorization_code_replays_total";
pub(crate) const RATE_LIMITED: &str = "tessera_rate_limited_total";
pub(crate) const SIGN_IN_FAILURES: &str = "tessera_sign_in_failures_total";
pub(crate) const ACCOUNT_LOCKOUTS: &str = "tessera_account_lockouts_total";
pub(crate) const WEBHOOK_ATTEMPTS: &str = "tessera_webhook_delivery_attempts_total";
pub(crate) const WEBHOOK_DURATION: &str = "tessera_webhook_delivery_duration_seconds";

/// Histogram buckets (upper bounds, seconds) of request durations: from 100 µs, because a
/// cached check answers in well under a millisecond, to 10 s.
pub(crate) const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const _: () = assert!(
    DURATION_BUCKETS[0] < 0.001,
    "sub-millisecond buckets for the check path"
);

/// Buckets of webhook attempts (seconds): a receiver's round trip, up to the 60 s that
/// `TESSERA_WEBHOOK_TIMEOUT` allows at most.
pub(crate) const WEBHOOK_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];

/// How often histogram samples are folded into their buckets (the exporter keeps raw samples
/// until then), so that memory stays bounded between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The answer `/v1/check` gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckOutcome {
    /// 200.
    Allow,
    /// 401: no token, or one that is not a live bearer credential usable from here.
    Unauthorized,
    /// 403: a live token lacking a required scope.
    ForbiddenScope,
    /// 503: the store could not answer and nothing was cached.
    Unavailable,
}

impl CheckOutcome {
    const ALL: [CheckOutcome; 4] = [
        CheckOutcome::Allow,
        CheckOutcome::Unauthorized,
        CheckOutcome::ForbiddenScope,
        CheckOutcome::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            CheckOutcome::Allow => "allow",
            CheckOutcome::Unauthorized => "unauthorized",
            CheckOutcome::ForbiddenScope => "forbidden_scope",
            CheckOutcome::Unavailable => "unavailable",
        }
    }
}

/// What kind of token a check was asked about, by its shape (so also for tokens that turn out
/// dead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckToken {
    /// No token was sent.
    None,
    /// Three base64url segments: an access token, or a forgery of one.
    Jwt,
    /// An integration token (live or test) whose checksum holds.
    Integration,
    /// A refresh token: never a bearer credential, always refused.
    Refresh,
    /// Nothing Tessera issues as a bearer credential: a bad checksum, a client secret, garbage.
    Unknown,
}

impl CheckToken {
    const ALL: [CheckToken; 5] = [
        CheckToken::None,
        CheckToken::Jwt,
        CheckToken::Integration,
        CheckToken::Refresh,
        CheckToken::Unknown,
    ];

    fn label(self) -> &'static str {
        match self {
            CheckToken::None => "none",
            CheckToken::Jwt => "jwt",
            CheckToken::Integration => "integration",
            CheckToken::Refresh => "refresh",
            CheckToken::Unknown => "unknown",
        }
    }
}

/// A database failure (`store::StoreError`'s `Query` and `Unavailable`; a row not found or a
/// unique key taken are facts about the data, not failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbError {
    /// A statement failed for a reason that is not the database's absence: a bug, a constraint.
    Statement,
    /// A statement failed because the database could not answer: connection lost, SQLite
    /// locked past its busy timeout, a PostgreSQL deadlock or serialization failure.
    Unavailable,
    /// No pooled connection could be had in time (or the database is marked down).
    NoConnection,
}

impl DbError {
    const ALL: [DbError; 3] = [
        DbError::Statement,
        DbError::Unavailable,
        DbError::NoConnection,
    ];

    fn label(self) -> &'static str {
        match self {
            DbError::Statement => "statement",
            DbError::Unavailable => "unavailable",
            DbError::NoConnection => "no_connection",
        }
    }
}

/// The grant of a token response (RFC 6749 §4.1.3, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

impl GrantType {
    const ALL: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];

    fn label(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

/// What became of a webhook delivery after an attempt (`webhooks::delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It did not; the delivery is tried again later.
    Retry,
    /// It did not, and no retry is left (or the receiver answered 410): failed for good.
    Failed,
}

impl WebhookOutcome {
    const ALL: [WebhookOutcome; 3] = [
        WebhookOutcome::Delivered,
        WebhookOutcome::Retry,
        WebhookOutcome::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            WebhookOutcome::Delivered => "delivered",
            WebhookOutcome::Retry => "retry",
            WebhookOutcome::Failed => "failed",
        }
    }
}

/// Every series of a fixed label set, resolved once.
struct Metrics {
    handle: PrometheusHandle,
    /// By [`CheckOutcome`], then [`CheckToken`], in their `ALL` order.
    check: [[Counter; CheckToken::ALL.len()]; CheckOutcome::ALL.len()],
    cache_hit: Counter,
    cache_miss: Counter,
    feed_lag: Gauge,
    pool_idle: Gauge,
    pool_in_use: Gauge,
    pool_max: Gauge,
    db_errors: [Counter; DbError::ALL.len()],
    issued: [Counter; GrantType::ALL.len()],
    refresh_reuse: Counter,
    code_replays: Counter,
    sign_in_failures: Counter,
    account_lockouts: Counter,
    webhook_attempts: [Counter; WebhookOutcome::ALL.len()],
    webhook_duration: Histogram,
}

/// Set once per process by [`install`]; `None` inside when the recorder could not be installed.
static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();

fn get() -> Option<&'static Metrics> {
    METRICS.get().and_then(Option::as_ref)
}

/// Installs the process's recorder (once; later calls return at once) and resolves every
/// fixed series. False when it cannot be installed — another recorder is installed
/// already — in which case nothing is recorded and the metrics listener answers 503.
pub(crate) fn install() -> bool {
    METRICS
        .get_or_init(|| match build() {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(cause = %e, "metrics cannot be recorded");
                None
            }
        })
        .is_some()
}

/// Whether a recorder is installed (so that resolving series is worth it).
pub(crate) fn enabled() -> bool {
    get().is_some()
}

fn build() -> Result<Metrics, String> {
    let handle = PrometheusBuilder::new()
        // Histograms, not summaries: buckets add up across instances, quantiles do not.
        .set_buckets(&DURATION_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(WEBHOOK_DURATION.into()), &WEBHOOK_BUCKETS)
        })
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("tessera-metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| format!("cannot start the upkeep thread: {e}"))?;
    describe();
    Ok(Metrics {
        handle,
        check: CheckOutcome::ALL.map(|o| {
            CheckToken::ALL.map(
                |t| counter!(CHECK_DECISIONS, "outcome" => o.label(), "token_kind" => t.label()),
            )
        }),
        cache_hit: counter!(DECISION_CACHE, "result" => "hit"),
        cache_miss: counter!(DECISION_CACHE, "result" => "miss"),
        feed_lag: gauge!(FEED_LAG),
        pool_idle: gauge!(POOL_CONNECTIONS, "state" => "idle"),
        pool_in_use: gauge!(POOL_CONNECTIONS, "state" => "in_use"),
        pool_max: gauge!(POOL_MAX),
        db_errors: DbError::ALL.map(|k| counter!(DB_ERRORS, "kind" => k.label())),
        issued: GrantType::ALL.map(|g| counter!(TOKENS_ISSUED, "grant_type" => g.label())),
        refresh_reuse: counter!(REFRESH_REUSE),
        code_replays: counter!(CODE_REPLAYS),
        sign_in_failures: counter!(SIGN_IN_FAILURES),
        account_lockouts: counter!(ACCOUNT_LOCKOUTS),
        webhook_attempts: WebhookOutcome::ALL
            .map(|o| counter!(WEBHOOK_ATTEMPTS, "outcome" => o.label())),
        webhook_duration: histogram!(WEBHOOK_DURATION),
    })
}

/// The `# HELP` lines.
fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered by the public listener, by method, route template and status class."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer a request of the public listener, by method, route template and status class."
    );
    describe_counter!(
        CHECK_DECISIONS,
        "Answers of /v1/check: outcome allow (200), unauthorized (401), forbidden_scope (403), unavailable (503); token_kind by the token's shape."
    );
    describe_counter!(
        DECISION_CACHE,
        "Check look-ups answered from the decision cache (hit) or the store (miss)."
    );
    describe_gauge!(
        FEED_LAG,
        Unit::Seconds,
        "Seconds since the start of this instance's last successful read of the revocation feed (since start-up before the first): how late a revocation made elsewhere may reach it."
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "Pooled database connections, idle and in use, sampled at scrape time."
    );
    describe_gauge!(POOL_MAX, "The database pool's size.");
    describe_counter!(
        DB_ERRORS,
        "Database failures: a statement that failed (statement), a database that could not answer (unavailable), no pooled connection in time (no_connection)."
    );
    describe_counter!(
        TOKENS_ISSUED,
        "Token responses of /oauth/token, by grant type."
    );
    describe_counter!(
        REFRESH_REUSE,
        "Refresh tokens presented again after their rotation; each revoked its token family."
    );
    describe_counter!(
        CODE_REPLAYS,
        "Authorization codes presented again; each revoked the tokens issued for it."
    );
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit, by limit.");
    describe_counter!(SIGN_IN_FAILURES, "Failed sign-ins.");
    describe_counter!(
        ACCOUNT_LOCKOUTS,
        "Accounts locked after repeated failed sign-ins."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts, by what became of the delivery: delivered, retry (tried again later), failed (for good)."
    );
    describe_histogram!(
        WEBHOOK_DURATION,
        Unit::Seconds,
        "Time of a webhook delivery attempt, connection included."
    );
}

/// The metrics in the Prometheus text format; `None` when no recorder is installed.
pub(crate) fn render() -> Option<String> {
    get().map(|m| m.handle.render())
}

/// The content type of [`render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two series of one (method, route template, status class) of the public listener.
pub(crate) struct HttpSeries {
    requests: Counter,
    duration: Histogram,
}

impl HttpSeries {
    /// Resolves the series (a registry look-up: do it once per label set); `None` when no
    /// recorder is installed. `route` is a route template or a fixed word, never a path.
    pub(crate) fn resolve(
        method: &'static str,
        route: impl Into<SharedString>,
        status_class: &'static str,
    ) -> Option<HttpSeries> {
        get()?;
        let route = route.into();
        Some(HttpSeries {
            requests: counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status_class" => status_class),
            duration: histogram!(HTTP_DURATION, "method" => method, "route" => route, "status_class" => status_class),
        })
    }

    pub(crate) fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

/// An answer of `/v1/check`.
pub(crate) fn check_decision(outcome: CheckOutcome, token: CheckToken) {
    if let Some(m) = get() {
        m.check[outcome as usize][token as usize].increment(1);
    }
}

/// A check look-up of a cacheable token: answered from memory (`hit`) or not.
pub(crate) fn decision_cache(hit: bool) {
    if let Some(m) = get() {
        if hit {
            m.cache_hit.increment(1);
        } else {
            m.cache_miss.increment(1);
        }
    }
}

/// The age of this instance's knowledge of the revocation feed (sampled at scrape time).
pub(crate) fn revocation_feed_lag(lag: Duration) {
    if let Some(m) = get() {
        m.feed_lag.set(lag.as_secs_f64());
    }
}

/// The database pool's state (sampled at scrape time): connections open in total, idle among
/// them, and the most there may be.
pub(crate) fn db_pool(connections: u32, idle: u32, max: u32) {
    if let Some(m) = get() {
        m.pool_idle.set(f64::from(idle));
        m.pool_in_use
            .set(f64::from(connections.saturating_sub(idle)));
        m.pool_max.set(f64::from(max));
    }
}

pub(crate) fn db_error(kind: DbError) {
    if let Some(m) = get() {
        m.db_errors[kind as usize].increment(1);
    }
}

/// A token response of `/oauth/token`.
pub(crate) fn token_issued(grant: GrantType) {
    if let Some(m) = get() {
        m.issued[grant as usize].increment(1);
    }
}

/// A refresh token presented again after its rotation (RFC 9700 §4.14.2): its family was
/// revoked.
pub(crate) fn refresh_reuse_detected() {
    if let Some(m) = get() {
        m.refresh_reuse.increment(1);
    }
}

/// An authorization code presented again (RFC 6749 §4.1.2): what it issued was revoked.
pub(crate) fn code_replay_detected() {
    if let Some(m) = get() {
        m.code_replays.increment(1);
    }
}

/// A request refused by the rate limit named `limit` (a fixed name, e.g. `"sign_in"`; never
/// anything taken from the request). The label set is open, so the series is looked up per
/// call: a refusal is not a hot path.
pub(crate) fn rate_limited(limit: &'static str) {
    if get().is_some() {
        counter!(RATE_LIMITED, "limit" => limit).increment(1);
    }
}

/// A failed sign-in.
pub(crate) fn sign_in_failed() {
    if let Some(m) = get() {
        m.sign_in_failures.increment(1);
    }
}

/// An account locked after repeated failed sign-ins.
pub(crate) fn account_locked() {
    if let Some(m) = get() {
        m.account_lockouts.increment(1);
    }
}

/// A webhook delivery attempt and its time.
pub(crate) fn webhook_attempt(outcome: WebhookOutcome, elapsed: Duration) {
    if let Some(m) = get() {
        m.webhook_attempts[outcome as usize].increment(1);
        m.webhook_duration.record(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_tables_follow_the_enums() {
        // The handle arrays are indexed by discriminant: each `ALL` must list its enum in order.
        for (i, o) in CheckOutcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
        for (i, t) in CheckToken::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
        for (i, k) in DbError::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        for (i, g) in GrantType::ALL.iter().enumerate() {
            assert_eq!(*g as usize, i);
        }
        for (i, o) in WebhookOutcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
    }

    #[test]
    fn buckets_ascend() {
        assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!(WEBHOOK_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }

    /// The only test of this crate's unit tests that installs the recorder (one per process).
    #[test]
    fn installed_metrics_render_as_prometheus_text() {
        assert!(install());
        assert!(install(), "a second install is the first one");
        check_decision(CheckOutcome::ForbiddenScope, CheckToken::Integration);
        rate_limited("test_limit");
        sign_in_failed();
        account_locked();
        webhook_attempt(WebhookOutcome::Retry, Duration::from_millis(30));
        HttpSeries::resolve("GET", "/v1/check", "2xx")
            .unwrap()
            .record(Duration::from_micros(300));
        let text = render().unwrap();
        for line in [
            r#"tessera_check_decisions_total{outcome="forbidden_scope",token_kind="integration"} 1"#,
            r#"tessera_check_decisions_total{outcome="allow",token_kind="jwt"} 0"#,
            r#"tessera_rate_limited_total{limit="test_limit"} 1"#,
            "tessera_sign_in_failures_total 1",
            "tessera_account_lockouts_total 1",
            r#"tessera_webhook_delivery_attempts_total{outcome="retry"} 1"#,
            r#"tessera_webhook_delivery_duration_seconds_bucket{le="0.05"} 1"#,
            r#"tessera_webhook_delivery_duration_seconds_bucket{le="0.025"} 0"#,
            "# TYPE http_server_request_duration_seconds histogram",
            r#"http_server_request_duration_seconds_bucket{method="GET",route="/v1/check",status_class="2xx",le="0.0005"} 1"#,
            r#"http_server_request_duration_seconds_bucket{method="GET",route="/v1/check",status_class="2xx",le="0.00025"} 0"#,
            r#"http_server_requests_total{method="GET",route="/v1/check",status_class="2xx"} 1"#,
            "# TYPE tessera_revocation_feed_lag_seconds gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
    }
}
