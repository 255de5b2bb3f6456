//! "Replace the live one" operations under real concurrency: whatever the interleaving,
//! afterwards exactly the documented set of credentials works. PostgreSQL runs READ COMMITTED,
//! where two rotations that each read "the live rows" would both survive; SQLite serialises
//! writes. Both backends run these.

use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use crate::oauth_support::World;
use crate::on_both_backends;

const PARALLEL: usize = 12;

fn active(w: &World, token: &str) -> bool {
    w.introspect(token)["active"] == json!(true)
}

on_both_backends! {
    fn concurrent_integration_rotations_leave_exactly_one_live_token(db: TestDb) {
        let w = World::new(db);
        let created = w.db.cli(&["--json", "integration", "create", "--org", "acme", "--name", "Raced", "--scope", "claims:read"]).json();
        let id = created["id"].as_str().unwrap().to_string();
        let first = created["token"].as_str().unwrap().to_string();
        let bearer = w.management_token("ada", "integrations:manage");
        let url = w.server.url(&format!("/v1/orgs/acme/integrations/{id}/rotate"));
        // Real parallel requests through the HTTP API, each rotating without grace.
        let tokens: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PARALLEL)
                .map(|_| {
                    let (url, bearer, http) = (url.clone(), bearer.clone(), w.app());
                    s.spawn(move || {
                        let res = http.post(&url).header(AUTHORIZATION, format!("Bearer {bearer}")).send().unwrap();
                        assert_eq!(res.status(), 200);
                        let body: Value = res.json().unwrap();
                        body["token"].as_str().unwrap().to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
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
}
