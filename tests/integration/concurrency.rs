//! "Replace the live one" operations under real concurrency: whatever the interleaving,
//! afterwards exactly the documented set of credentials works. PostgreSQL runs READ COMMITTED,
//! where two rotations that each read "the live rows" would both survive; SQLite serialises
//! writes. Both backends run these.

use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use crate::oauth_support::{Pkce, REDIRECT, World, query};
use crate::on_both_backends;

const PARALLEL: usize = 12;

fn active(w: &World, token: &str) -> bool {
    w.introspect(token)["active"] == json!(true)
}

/// Rotates integration `id` with `PARALLEL` real parallel requests through the HTTP API, each
/// with `body`; every one must succeed. The tokens they returned.
fn rotate_in_parallel(w: &World, id: &str, body: Value) -> Vec<String> {
    let bearer = w.management_token("ada", "integrations:manage");
    let url = w
        .server
        .url(&format!("/v1/orgs/acme/integrations/{id}/rotate"));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..PARALLEL)
            .map(|_| {
                let (url, bearer, http, body) =
                    (url.clone(), bearer.clone(), w.app(), body.clone());
                s.spawn(move || {
                    let res = http
                        .post(&url)
                        .header(AUTHORIZATION, format!("Bearer {bearer}"))
                        .json(&body)
                        .send()
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    res.json::<Value>().unwrap()["token"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

on_both_backends! {
    fn concurrent_integration_rotations_leave_exactly_one_live_token(db: TestDb) {
        let w = World::new(db);
        let (id, first) = w.create_integration("Raced", &[]);
        // Real parallel requests through the HTTP API, each rotating without grace.
        let tokens = rotate_in_parallel(&w, &id, json!({}));
        let live: Vec<&String> = tokens.iter().filter(|t| active(&w, t)).collect();
        assert_eq!(live.len(), 1, "exactly one of {PARALLEL} rotated tokens works");
        assert!(!active(&w, &first));
    }

    fn concurrent_client_secret_rotations_leave_exactly_one_live_secret(db: TestDb) {
        let w = World::new(db);
        // Separate processes, as operators running the CLI at once would be.
        let secrets: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PARALLEL / 2)
                .map(|_| s.spawn(|| {
                    w.db.cli(&["--json", "client", "rotate-secret", &w.client_id]).json()["client_secret"]
                        .as_str().unwrap().to_string()
                }))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let works = |secret: &str| {
            w.app().post(w.server.url("/oauth/introspect")).basic_auth(&w.client_id, Some(secret))
                .form(&[("token", "garbage")]).send().unwrap().status() == 200
        };
        let live = secrets.iter().filter(|s| works(s)).count();
        assert_eq!(live, 1, "exactly one of the rotated secrets works");
        assert!(!works(&w.client_secret));
    }

    fn concurrent_signing_key_rotations_leave_exactly_one_current_key(db: TestDb) {
        let w = World::new(db);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL / 2 {
                s.spawn(|| assert_eq!(w.db.cli(&["keys", "rotate"]).code(), 0));
            }
        });
        let keys = w.db.cli(&["--json", "keys", "list"]).json();
        let current = keys.as_array().unwrap().iter().filter(|k| k["retired_at"].is_null()).count();
        assert_eq!(current, 1, "{keys}");
    }

    fn concurrent_grace_rotations_leave_one_current_token_and_the_rest_ending(db: TestDb) {
        let w = World::new(db);
        let (id, _) = w.create_integration("Graced", &[]);
        let tokens = rotate_in_parallel(&w, &id, json!({"grace": "1h"}));
        // Within the grace period every token works; exactly one of them has no end.
        assert!(tokens.iter().all(|t| active(&w, t)));
        let shown = w.db.cli(&["--json", "integration", "show", &id]).json();
        let open_ended: Vec<&Value> = shown["tokens"].as_array().unwrap().iter()
            .filter(|t| t["expires_at"].is_null()).collect();
        assert_eq!(open_ended.len(), 1, "{shown}");
        // The current one is the newest.
        assert_eq!(shown["tokens"][0]["expires_at"], Value::Null, "{shown}");
    }

    fn rotations_racing_a_revocation_or_an_expiry_leave_nothing_live(db: TestDb) {
        let w = World::new(db);
        let bearer = w.management_token("ada", "integrations:manage");
        for finisher in ["revoke", "expire"] {
            let (id, first) = w.create_integration(finisher, &[]);
            let base = w.server.url(&format!("/v1/orgs/acme/integrations/{id}"));
            let tokens: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..PARALLEL)
                    .map(|i| {
                        let (base, bearer, http) = (base.clone(), bearer.clone(), w.app());
                        s.spawn(move || {
                            let auth = format!("Bearer {bearer}");
                            if i == PARALLEL / 2 {
                                let res = http.post(format!("{base}/{finisher}")).header(AUTHORIZATION, auth).send().unwrap();
                                assert_eq!(res.status(), 200);
                                return None;
                            }
                            let res = http.post(format!("{base}/rotate")).header(AUTHORIZATION, auth).send().unwrap();
                            match res.status().as_u16() {
                                200 => Some(res.json::<Value>().unwrap()["token"].as_str().unwrap().to_string()),
                                // Rotating a revoked or expired integration is refused.
                                409 => None,
                                other => panic!("rotate answered {other}: {}", res.text().unwrap()),
                            }
                        })
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
            });
            for t in tokens.iter().chain([&first]) {
                assert!(!active(&w, t), "a token survived a concurrent {finisher}");
            }
        }
    }

    fn concurrent_revocations_of_one_access_token_all_succeed(db: TestDb) {
        let w = World::new(db);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let access = body["access_token"].as_str().unwrap().to_string();
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PARALLEL)
                .map(|_| {
                    let (http, access) = (w.app(), access.clone());
                    let url = w.server.url("/oauth/revoke");
                    let (id, secret) = (w.client_id.clone(), w.client_secret.clone());
                    s.spawn(move || {
                        http.post(url).basic_auth(id, Some(secret))
                            .form(&[("token", access.as_str())]).send().unwrap().status().as_u16()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // RFC 7009 §2.2: revoking a token already revoked is a success too.
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(w.introspect(&access)["active"], json!(false));
    }

    fn a_revoked_consent_voids_codes_not_yet_exchanged(db: TestDb) {
        // Otherwise a code issued a moment before the revocation (or an exchange racing it)
        // would still bring the client a live grant afterwards.
        let w = World::new(db);
        let pkce = Pkce::new();
        let url = w.authorize_url(&w.client_id, &[
            ("scope", "claims:read"), ("state", "xyz"),
            ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256"),
        ]);
        let back = w.authorize_as(&w.browser(), "alice", &url);
        let code = query(&back, "code").unwrap();
        w.db.cli(&["--json", "consent", "revoke", "--user", "alice", "--client", &w.client_id]).json();
        let (status, body, _) = w.token(&[
            ("grant_type", "authorization_code"), ("code", &code),
            ("redirect_uri", REDIRECT), ("code_verifier", &pkce.verifier),
        ]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
}
