//! Prometheus metrics: the metrics listener and its text, the public listener that does not
//! serve them, and the counts moving with the requests that should move them.
//!
//! One recorder serves every server of this test process, so counts are compared before and
//! after a test's own requests: each must have grown by at least what the test did.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use crate::oauth_support::{Pkce, REDIRECT, World, query};
use crate::on_both_backends;
use crate::support::{TestDb, TestServer};

/// One sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// One scrape of a metrics listener.
pub(crate) struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

pub(crate) fn scrape(server: &TestServer) -> Scrape {
    let base = server
        .metrics
        .as_ref()
        .expect("test servers have a metrics listener");
    let res = reqwest::blocking::get(format!("{base}/metrics")).unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = res.text().unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| parse_sample(l).unwrap_or_else(|| panic!("not a sample line: {l:?}")))
        .collect();
    Scrape { text, samples }
}

/// `name{k="v",…} value` or `name value` (label values here hold no escaped quotes, which is
/// checked: a `\` fails the parse).
fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series.to_string(), Vec::new(), value));
    };
    let mut labels = Vec::new();
    let mut rest = rest.strip_suffix('}')?;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let (val, after) = after.split_once('"')?;
        if val.contains('\\') {
            return None;
        }
        labels.push((key.to_string(), val.to_string()));
        rest = after.strip_prefix(',').unwrap_or(after);
    }
    Some((name.to_string(), labels, value))
}

impl Scrape {
    /// The value of the series `name` with exactly these labels; 0 when it does not exist yet.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    }

    fn has_type(&self, name: &str, kind: &str) -> bool {
        self.text
            .lines()
            .any(|l| l == format!("# TYPE {name} {kind}"))
    }

    /// Fails if any label value contains any of `secrets`.
    #[track_caller]
    fn assert_no_label_contains(&self, secrets: &[&str]) {
        for (name, labels, _) in &self.samples {
            for (key, value) in labels {
                for secret in secrets {
                    assert!(
                        !value.contains(secret),
                        "{name}{{{key}={value:?}}} carries {secret:?}"
                    );
                }
            }
        }
    }
}

/// How much a series grew between two scrapes.
pub(crate) fn grew(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

fn check(w: &World, token: Option<&str>, scope: Option<&str>) -> u16 {
    let mut req = reqwest::blocking::Client::new().get(w.server.url("/v1/check"));
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(s) = scope {
        req = req.header("X-Required-Scope", s);
    }
    req.send().unwrap().status().as_u16()
}

const DECISIONS: &str = "tessera_check_decisions_total";

on_both_backends! {
    fn the_metrics_listener_answers_prometheus_text_and_the_public_one_does_not(db: TestDb) {
        let started = Instant::now();
        let server = TestServer::start(db.config());
        let http = reqwest::blocking::Client::new();
        let before = scrape(&server);
        assert_eq!(http.get(server.url("/metrics")).send().unwrap().status(), 404);
        for _ in 0..3 {
            assert_eq!(http.get(server.url("/healthz")).send().unwrap().status(), 200);
        }
        let after = scrape(&server);
        let healthz = [("method", "GET"), ("route", "/healthz"), ("status_class", "2xx")];
        assert!(grew(&before, &after, "http_server_requests_total", &healthz) >= 3.0);
        // A histogram with buckets below a millisecond, not a summary.
        assert!(after.has_type("http_server_request_duration_seconds", "histogram"), "{}", after.text);
        for le in ["0.0001", "0.0005", "0.001", "+Inf"] {
            let bucket = [healthz[0], healthz[1], healthz[2], ("le", le)];
            assert!(after.value("http_server_request_duration_seconds_bucket", &bucket) >= 3.0, "le={le}: {}", after.text);
        }
        assert!(grew(&before, &after, "http_server_request_duration_seconds_count", &healthz) >= 3.0);
        // The public listener's 404 for /metrics is labelled by no path at all.
        let unmatched = [("method", "GET"), ("route", "unmatched"), ("status_class", "4xx")];
        assert!(grew(&before, &after, "http_server_requests_total", &unmatched) >= 1.0);
        after.assert_no_label_contains(&["/metrics"]);
        // Every fixed series is there from the start, at zero if nothing happened.
        for (name, kind) in [
            ("tessera_check_decisions_total", "counter"),
            ("tessera_decision_cache_total", "counter"),
            ("tessera_revocation_feed_lag_seconds", "gauge"),
            ("tessera_db_pool_connections", "gauge"),
            ("tessera_db_pool_max_connections", "gauge"),
            ("tessera_db_errors_total", "counter"),
            ("tessera_tokens_issued_total", "counter"),
            ("tessera_refresh_reuse_detected_total", "counter"),
            ("tessera_authorization_code_replays_total", "counter"),
            ("tessera_sign_in_failures_total", "counter"),
            ("tessera_account_lockouts_total", "counter"),
            ("tessera_webhook_delivery_attempts_total", "counter"),
            ("tessera_webhook_delivery_duration_seconds", "histogram"),
        ] {
            assert!(after.has_type(name, kind), "no {kind} {name}:\n{}", after.text);
        }
        assert!(after.value("tessera_db_pool_max_connections", &[]) >= 1.0);
        // Anything else on the metrics listener is not found.
        let other = http.get(format!("{}/healthz", server.metrics.as_ref().unwrap())).send().unwrap();
        assert_eq!(other.status(), 404);

        // The feed's lag is the age of the last read, which the follower renews every 250 ms:
        // once the server has run for a second, a lag under half a second shows reads renew
        // it (without reads it would be the server's age).
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let lag = scrape(&server).value("tessera_revocation_feed_lag_seconds", &[]);
            if lag < 0.5 && started.elapsed() > Duration::from_secs(1) {
                break;
            }
            assert!(Instant::now() < deadline, "the feed's lag stays at {lag} s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_decisions_are_counted_by_outcome_and_token_kind(db: TestDb) {
        let w = World::new(db);
        let (integration_id, token) = w.create_integration("Metrics", &[]);
        let jwt = w.tokens_for(&w.browser(), "alice", "claims:read")["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let before = scrape(&w.server);
        assert_eq!(check(&w, Some(&token), Some("claims:read")), 200);
        assert_eq!(check(&w, Some(&token), Some("claims:write")), 403);
        assert_eq!(check(&w, Some(&jwt), Some("claims:read")), 200);
        assert_eq!(check(&w, Some("tsr_live_not-a-real-token"), None), 401);
        assert_eq!(check(&w, None, None), 401);
        let after = scrape(&w.server);
        for (outcome, kind) in [
            ("allow", "integration"),
            ("forbidden_scope", "integration"),
            ("allow", "jwt"),
            ("unauthorized", "unknown"),
            ("unauthorized", "none"),
        ] {
            let labels = [("outcome", outcome), ("token_kind", kind)];
            assert!(grew(&before, &after, DECISIONS, &labels) >= 1.0, "{outcome} {kind}:\n{}", after.text);
        }
        // Three look-ups of well-formed tokens, each from the cache or the store; the first
        // of each token from the store.
        let hits = grew(&before, &after, "tessera_decision_cache_total", &[("result", "hit")]);
        let misses = grew(&before, &after, "tessera_decision_cache_total", &[("result", "miss")]);
        assert!(misses >= 2.0 && hits + misses >= 3.0, "hits {hits}, misses {misses}");
        let route = [("method", "GET"), ("route", "/v1/check")];
        assert!(grew(&before, &after, "http_server_requests_total", &[route[0], route[1], ("status_class", "2xx")]) >= 2.0);
        assert!(grew(&before, &after, "http_server_requests_total", &[route[0], route[1], ("status_class", "4xx")]) >= 3.0);

        // The management API is labelled by its route template, not its path.
        let admin = w.management_token("ada", "integrations:manage");
        let res = reqwest::blocking::Client::new()
            .get(w.server.url(&format!("/v1/orgs/acme/integrations/{integration_id}")))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        let last = scrape(&w.server);
        let show = [("method", "GET"), ("route", "/v1/orgs/{org}/integrations/{id}"), ("status_class", "2xx")];
        assert!(grew(&after, &last, "http_server_requests_total", &show) >= 1.0, "{}", last.text);
        last.assert_no_label_contains(&[
            &token, &jwt, &admin, &integration_id, "acme", "alice", "ada", &w.client_id, &w.console.0,
        ]);
    }

    fn token_issuance_code_replay_and_refresh_reuse_are_counted(db: TestDb) {
        let w = World::new(db);
        let before = scrape(&w.server);
        // An authorization code, exchanged, then replayed.
        let pkce = Pkce::new();
        let url = w.authorize_url(&w.client_id, &[
            ("scope", "claims:read"), ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256"),
        ]);
        let code = query(&w.authorize_as(&w.browser(), "alice", &url), "code").unwrap();
        let exchange = [
            ("grant_type", "authorization_code"), ("code", code.as_str()),
            ("redirect_uri", REDIRECT), ("code_verifier", pkce.verifier.as_str()),
        ];
        let (status, body, _) = w.token(&exchange);
        assert_eq!(status, 200, "{body}");
        let refresh = body["refresh_token"].as_str().unwrap().to_string();
        let access = body["access_token"].as_str().unwrap().to_string();
        let (status, _, _) = w.token(&exchange);
        assert_eq!(status, 400);
        // A second flow's refresh token: rotated once, then presented again.
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let rt = body["refresh_token"].as_str().unwrap().to_string();
        let (status, rotated, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
        assert_eq!(status, 200, "{rotated}");
        let (status, _, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
        assert_eq!(status, 400);
        let after = scrape(&w.server);
        let issued = "tessera_tokens_issued_total";
        assert!(grew(&before, &after, issued, &[("grant_type", "authorization_code")]) >= 2.0);
        assert!(grew(&before, &after, issued, &[("grant_type", "refresh_token")]) >= 1.0);
        assert!(grew(&before, &after, "tessera_authorization_code_replays_total", &[]) >= 1.0);
        assert!(grew(&before, &after, "tessera_refresh_reuse_detected_total", &[]) >= 1.0);
        let token_route = [("method", "POST"), ("route", "/oauth/token")];
        assert!(grew(&before, &after, "http_server_requests_total", &[token_route[0], token_route[1], ("status_class", "4xx")]) >= 2.0);
        after.assert_no_label_contains(&[
            &refresh, &access, &rt, &code, rotated["refresh_token"].as_str().unwrap(),
            &w.client_id, &w.client_secret, &w.public_id, "acme", "alice",
        ]);
    }

    fn metrics_can_be_turned_off(db: TestDb) {
        let server = TestServer::start(db.config_with(&[("TESSERA_METRICS_BIND", "off")]));
        assert!(server.metrics.is_none());
        let http = reqwest::blocking::Client::new();
        assert_eq!(http.get(server.url("/healthz")).send().unwrap().status(), 200);
        assert_eq!(http.get(server.url("/metrics")).send().unwrap().status(), 404);
    }
}

#[test]
fn a_taken_metrics_port_stops_the_start() {
    let db = TestDb::sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let config = db.config_with(&[("TESSERA_METRICS_BIND", &addr)]);
    let err = actix_web::rt::System::new()
        .block_on(async move { tessera::web::Server::build(config).err() })
        .expect("the start fails");
    assert!(err.to_string().contains(&addr), "{err}");
}
