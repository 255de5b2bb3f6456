//! Several instances on one PostgreSQL: a revoke is done when it returns — on every instance,
//! whichever one (or the CLI) made it —, an instance that cannot read the revocation feed
//! serves no cached decision, and instances starting together share one first-run set-up.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::oauth_support::{Pkce, REDIRECT, World, query};
use crate::support::{ServerProcess, TestDb, TestServer};

/// One issuer for all instances, as behind a load balancer.
const ISSUER: [(&str, &str); 1] = [("TESSERA_ISSUER", "http://tessera.test")];

/// `/v1/check`'s status for a bearer, at the server at `base`.
pub(crate) fn check_status(base: &str, token: &str) -> u16 {
    Client::new()
        .get(format!("{base}/v1/check"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn create_integration(base: &str, bearer: &str, name: &str) -> (String, String) {
    let res = Client::new()
        .post(format!("{base}/v1/orgs/acme/integrations"))
        .bearer_auth(bearer)
        .json(&json!({"name": name, "scopes": ["claims:read"]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().unwrap();
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

/// The "done when" of synchronous revocation: after any revoke returns, the very next request
/// with that token to either instance answers 401 — with each instance's decision cached
/// beforehand, so that only the feed and its acknowledgements can make it so.
#[test]
fn a_revoke_is_done_on_every_instance_when_it_returns() {
    let Some(db) = TestDb::postgres() else { return };
    let w = World::with_config(db, &ISSUER);
    let a = ServerProcess::start(&w.db, &ISSUER);
    let b = ServerProcess::start(&w.db, &ISSUER);
    let instances = [&a.base, &b.base, &w.server.base];
    let admin = w.management_token("ada", "integrations:manage");
    let cached_everywhere = |token: &str| {
        for base in instances {
            assert_eq!(check_status(base, token), 200);
            assert_eq!(
                check_status(base, token),
                200,
                "served from {base}'s cache now"
            );
        }
    };
    let refused_everywhere = |token: &str, how: &str, round: usize| {
        for base in instances {
            assert_eq!(
                check_status(base, token),
                401,
                "round {round}: accepted by {base} after a {how} returned; log of a:\n{}\nlog of b:\n{}",
                a.log(),
                b.log()
            );
        }
    };
    // Integration tokens: revoked over HTTP on instance a, or by the CLI, alternately.
    for round in 0..100 {
        let (id, token) = create_integration(&a.base, &admin, &format!("Round {round}"));
        cached_everywhere(&token);
        if round % 2 == 0 {
            let res = Client::new()
                .post(a.url(&format!("/v1/orgs/acme/integrations/{id}/revoke")))
                .bearer_auth(&admin)
                .send()
                .unwrap();
            assert_eq!(res.status(), 200);
            refused_everywhere(&token, "revoke over HTTP on a", round);
        } else {
            w.db.cli(&["--json", "integration", "revoke", &id]).json();
            refused_everywhere(&token, "`tessera integration revoke`", round);
        }
    }
    // Access tokens: RFC 7009 on instance a, and a consent revoked by the CLI.
    for round in 0..10 {
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let access = body["access_token"].as_str().unwrap().to_string();
        cached_everywhere(&access);
        if round % 2 == 0 {
            let res = w
                .app()
                .post(a.url("/oauth/revoke"))
                .basic_auth(&w.client_id, Some(&w.client_secret))
                .form(&[("token", access.as_str())])
                .send()
                .unwrap();
            assert_eq!(res.status(), 200);
            refused_everywhere(&access, "RFC 7009 revocation on a", round);
        } else {
            w.db.cli(&[
                "--json",
                "consent",
                "revoke",
                "--user",
                "alice",
                "--client",
                &w.client_id,
            ])
            .json();
            refused_everywhere(&access, "`tessera consent revoke`", round);
        }
    }
    // An instance stopped by SIGTERM leaves the feed: revokes do not wait for it.
    let mut b = b;
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(b.child.wait().unwrap().success(), "{}", b.log());
    let revoke_timed = |id: &str| {
        let started = Instant::now();
        w.db.cli(&["--json", "integration", "revoke", id]).json();
        started.elapsed()
    };
    let (id, token) = create_integration(&a.base, &admin, "After b stopped");
    let took = revoke_timed(&id);
    assert!(
        took < Duration::from_secs(1),
        "a revoke waited {took:?} for a stopped instance"
    );
    assert_eq!(check_status(&a.base, &token), 401);
    // A crashed instance cannot leave: a revoke waits for it at most 2 s (after which it has
    // stopped serving cached decisions), and still succeeds.
    drop(a);
    let (id, token) = create_integration(&w.server.base, &admin, "After a crashed");
    let took = revoke_timed(&id);
    assert!(
        took < Duration::from_secs(3),
        "a revoke waited {took:?} for a crashed instance"
    );
    assert_eq!(check_status(&w.server.base, &token), 401);
}

fn signal(process: &ServerProcess, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The wait is real. A revoke made while an instance is paused (SIGSTOP) returns only once that
/// instance has resumed and read the feed; paused longer than it may serve cached decisions
/// (1.75 s), it is no longer waited for — and either way it refuses the token when it resumes.
#[test]
fn a_revoke_waits_for_a_paused_instance_and_not_for_a_gone_one() {
    let Some(db) = TestDb::postgres() else { return };
    let w = World::with_config(db, &ISSUER);
    let b = ServerProcess::start(&w.db, &ISSUER);
    let admin = w.management_token("ada", "integrations:manage");
    let cached_on_both = |token: &str| {
        for base in [&b.base, &w.server.base] {
            assert_eq!(check_status(base, token), 200);
            assert_eq!(check_status(base, token), 200);
        }
    };
    // Paused for 400 ms while a revoke runs on the other instance.
    let (id, token) = create_integration(&w.server.base, &admin, "Paused briefly");
    cached_on_both(&token);
    signal(&b, "STOP");
    let took = std::thread::scope(|s| {
        s.spawn(|| {
            // The scenario's own timing: how long the instance stays paused.
            std::thread::sleep(Duration::from_millis(400));
            signal(&b, "CONT");
        });
        let started = Instant::now();
        let res = Client::new()
            .post(
                w.server
                    .url(&format!("/v1/orgs/acme/integrations/{id}/revoke")),
            )
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        started.elapsed()
    });
    assert!(
        took >= Duration::from_millis(350),
        "the revoke did not wait for the paused instance ({took:?})"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(check_status(&b.base, &token), 401);
    assert_eq!(check_status(&w.server.base, &token), 401);
    // Paused for longer than it may serve cached decisions: the revoke stops waiting for it,
    // and on resuming it asks the store rather than its cache.
    let (id, token) = create_integration(&w.server.base, &admin, "Paused long");
    cached_on_both(&token);
    signal(&b, "STOP");
    let started = Instant::now();
    w.db.cli(&["--json", "integration", "revoke", &id]).json();
    let took = started.elapsed();
    signal(&b, "CONT");
    assert_eq!(
        check_status(&b.base, &token),
        401,
        "served from the cache after resuming"
    );
    assert!(
        took >= Duration::from_millis(1000),
        "did not wait for the paused instance ({took:?})"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// An instance that cannot read the feed stops serving cached decisions (and asks the store),
/// rather than serving decisions that a revocation it cannot see may have ended.
#[test]
fn an_instance_that_cannot_read_the_feed_serves_no_cached_decision() {
    let Some(db) = TestDb::postgres() else { return };
    let w = World::with_config(db, &[("TESSERA_CHECK_CACHE_TTL", "60s")]);
    let admin = w.management_token("ada", "integrations:manage");
    let (id, token) = create_integration(&w.server.base, &admin, "Cached");
    assert_eq!(check_status(&w.server.base, &token), 200);
    // Revoked behind the feed's back (as a revocation this instance cannot see would be):
    // the cached decision still answers.
    let mut conn = w.db.conn();
    diesel::sql_query("UPDATE integrations SET revoked_at = CURRENT_TIMESTAMP WHERE id = $1")
        .bind::<diesel::sql_types::Text, _>(&id)
        .execute(&mut *conn)
        .unwrap();
    assert_eq!(
        check_status(&w.server.base, &token),
        200,
        "served from the cache"
    );
    // Now the feed cannot be read: a transaction holds the table.
    let mut holder = PgConnection::establish(&w.db.url).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut holder,
        "BEGIN; LOCK TABLE revocations IN ACCESS EXCLUSIVE MODE;",
    )
    .unwrap();
    let started = Instant::now();
    while check_status(&w.server.base, &token) != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a cached decision was still served {:?} after the feed became unreadable",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Without the cache, every answer comes from the store: another live token still works.
    let (_, other) = create_integration(&w.server.base, &admin, "Uncached");
    assert_eq!(check_status(&w.server.base, &other), 200);
    diesel::connection::SimpleConnection::batch_execute(&mut holder, "ROLLBACK").unwrap();
}

/// Instances started together on a fresh database: every one starts, and there is one
/// organization, one owner and one current signing key.
#[test]
fn instances_starting_together_share_one_first_run_set_up() {
    let Some(db) = TestDb::postgres() else { return };
    let servers: Vec<TestServer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| TestServer::start(db.config_with(&ISSUER))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for server in &servers {
        let res = Client::new().get(server.url("/readyz")).send().unwrap();
        assert_eq!(res.status(), 200);
    }
    let keys = db.cli(&["--json", "keys", "list"]).json();
    let current = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["retired_at"].is_null())
        .count();
    assert_eq!(current, 1, "{keys}");
    let count = |sql: &str| -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(sql)
            .get_result::<N>(&mut *db.conn())
            .unwrap()
            .n
    };
    assert_eq!(count("SELECT COUNT(*) AS n FROM organizations"), 1);
    assert_eq!(count("SELECT COUNT(*) AS n FROM users"), 1);
}

/// One credential, two instances, at the same moment: a refresh token or an authorization
/// code is accepted once across instances, never once per instance.
#[test]
fn a_refresh_token_or_a_code_presented_to_two_instances_at_once_is_accepted_once() {
    let Some(db) = TestDb::postgres() else { return };
    let w = World::with_config(db, &ISSUER);
    let b = ServerProcess::start(&w.db, &ISSUER);
    let bases = [w.server.base.clone(), b.base.clone()];
    let race = |form: Vec<(String, String)>| -> Vec<u16> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (base, form) = (bases[i % 2].clone(), form.clone());
                    let (id, secret) = (w.client_id.clone(), w.client_secret.clone());
                    s.spawn(move || {
                        Client::new()
                            .post(format!("{base}/oauth/token"))
                            .basic_auth(id, Some(secret))
                            .form(&form)
                            .send()
                            .unwrap()
                            .status()
                            .as_u16()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    for _ in 0..5 {
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let refresh = body["refresh_token"].as_str().unwrap().to_string();
        let statuses = race(vec![
            ("grant_type".into(), "refresh_token".into()),
            ("refresh_token".into(), refresh),
        ]);
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
        // A code, likewise.
        let pkce = Pkce::new();
        let url = w.authorize_url(
            &w.client_id,
            &[
                ("scope", "claims:read"),
                ("state", "xyz"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let back = w.authorize_as(&w.browser(), "alice", &url);
        let code = query(&back, "code").unwrap();
        let statuses = race(vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code),
            ("redirect_uri".into(), REDIRECT.into()),
            ("code_verifier".into(), pkce.verifier.clone()),
        ]);
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
    }
}
