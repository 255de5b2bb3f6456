//! CORS: browser apps may call the token and revocation endpoints from the origins their client
//! allows, and read discovery and the JWKS from anywhere; nothing else answers another origin.

use reqwest::Method;
use reqwest::header::{HeaderMap, ORIGIN};

use crate::oauth_support::{REDIRECT, World};
use crate::on_both_backends;

const SPA: &str = "http://127.0.0.1:9999";

fn allowed(headers: &HeaderMap) -> Option<&str> {
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "never with credentials"
    );
    headers
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap())
}

on_both_backends! {
    fn browser_apps_reach_the_token_endpoint_only_from_their_clients_origins(db: TestDb) {
        let w = World::new(db);
        let http = w.app();
        let preflight = |path: &str, origin: &str| {
            http.request(Method::OPTIONS, w.server.url(path))
                .header(ORIGIN, origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send().unwrap()
        };
        // The public client (a single-page app) registered http://127.0.0.1:9999/cb: its origin
        // may call the token and revocation endpoints.
        for path in ["/oauth/token", "/oauth/revoke"] {
            let res = preflight(path, SPA);
            assert_eq!(res.status(), 204, "{path}");
            assert_eq!(allowed(res.headers()), Some(SPA), "{path}");
            assert!(res.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
            let res = preflight(path, "https://evil.example");
            assert_eq!(allowed(res.headers()), None, "{path}");
        }
        // The answer itself names the origin only for a client that allows it: the public
        // client (its error answers too, so the app can read them), not the confidential one
        // registered with the same URI.
        let public = http.post(w.server.url("/oauth/token")).header(ORIGIN, SPA)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "tsr_rt_bogus"), ("client_id", &w.public_id)])
            .send().unwrap();
        assert_eq!(public.status(), 400);
        assert_eq!(allowed(public.headers()), Some(SPA));
        assert_eq!(public.headers()["vary"], "Origin");
        let confidential = http.post(w.server.url("/oauth/token")).header(ORIGIN, SPA)
            .basic_auth(&w.client_id, Some(&w.client_secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "tsr_rt_bogus")])
            .send().unwrap();
        assert_eq!(allowed(confidential.headers()), None);
        // A client may name its origins; then those, and only those.
        let bad = w.db.cli(&["client", "create", "--org", "acme", "--name", "Bad", "--redirect-uri", REDIRECT,
            "--scope", "claims:read", "--cors-origin", "https://app.example.com/path"]);
        assert_eq!(bad.code(), 2, "{}", bad.stderr());
        let created = w.db.cli(&["--json", "client", "create", "--org", "acme", "--name", "Web", "--redirect-uri", REDIRECT,
            "--scope", "claims:read", "--cors-origin", "https://app.example.com"]).json();
        let (id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
        for (origin, expected) in [("https://app.example.com", Some("https://app.example.com")), (SPA, None)] {
            let res = http.post(w.server.url("/oauth/revoke")).header(ORIGIN, origin).basic_auth(id, Some(secret))
                .form(&[("token", "tsr_rt_bogus")]).send().unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(allowed(res.headers()), expected, "{origin}");
        }
        assert_eq!(allowed(preflight("/oauth/token", "https://app.example.com").headers()), Some("https://app.example.com"));
        // Discovery and the keys are public documents.
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/jwks.json"] {
            let res = http.get(w.server.url(path)).header(ORIGIN, "https://anyone.example").send().unwrap();
            assert_eq!(allowed(res.headers()), Some("*"), "{path}");
            let res = http.request(Method::OPTIONS, w.server.url(path)).header(ORIGIN, "https://anyone.example")
                .header("access-control-request-method", "GET").send().unwrap();
            assert_eq!((res.status().as_u16(), allowed(res.headers())), (204, Some("*")), "{path}");
        }
        // Never on the authorization endpoint, the pages, the check or the management API.
        for path in ["/oauth/authorize", "/oauth/login", "/v1/check", "/v1/orgs/acme/integrations", "/oauth/introspect"] {
            let res = http.get(w.server.url(path)).header(ORIGIN, SPA).send().unwrap();
            assert_eq!(allowed(res.headers()), None, "{path}");
            let res = preflight(path, SPA);
            assert_eq!(res.status(), 405, "{path}");
            assert_eq!(allowed(res.headers()), None, "{path}");
        }
    }
}
