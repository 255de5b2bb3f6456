//! Text a database cannot store (NUL), or that no parameter may hold (control characters), gets
//! the endpoint's own 4xx on both backends — never a 5xx.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use crate::oauth_support::{World, split};
use crate::on_both_backends;

on_both_backends! {
    fn control_characters_get_the_endpoints_own_4xx(db: TestDb) {
        let w = World::new(db);
        let http = w.app();
        // The authorization endpoint: an error page, not a redirect and not a 503.
        for query in ["client_id=%00%E2%80%AE", "client_id=abc&state=%07", "response_type=code%0A"] {
            let res = http.get(format!("{}?{query}", w.server.url("/oauth/authorize"))).send().unwrap();
            assert_eq!(res.status(), 400, "{query}");
            assert!(res.text().unwrap().contains("<html"), "{query}");
        }
        let res = http.post(w.server.url("/oauth/authorize")).form(&[("client_id", "a\u{0}b")]).send().unwrap();
        assert_eq!(res.status(), 400);
        // The token, revocation and introspection endpoints: RFC 6749's invalid_request, in a
        // form, a JSON body, Basic credentials or the query.
        let oauth_error = |res: reqwest::blocking::Response| {
            let (status, body, _) = split(res);
            (status, body["error"].as_str().unwrap_or("").to_string())
        };
        for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
            let form = http.post(w.server.url(path))
                .form(&[("grant_type", "refresh_token"), ("token", "x"), ("client_id", "\u{0}")]).send().unwrap();
            assert_eq!(oauth_error(form), (400, "invalid_request".into()), "{path} form");
            let json = http.post(w.server.url(path)).header(CONTENT_TYPE, "application/json")
                .body(r#"{"grant_type":"refresh_token","token":"x","client_id":"a\u0000"}"#).send().unwrap();
            assert_eq!(oauth_error(json), (400, "invalid_request".into()), "{path} JSON");
            let basic = http.post(w.server.url(path)).basic_auth("\u{0}", Some("secret"))
                .form(&[("grant_type", "refresh_token"), ("token", "x")]).send().unwrap();
            assert_eq!(oauth_error(basic), (400, "invalid_request".into()), "{path} Basic");
            let query = http.post(format!("{}?x=%00", w.server.url(path))).form(&[("token", "x")]).send().unwrap();
            assert_eq!(oauth_error(query), (400, "invalid_request".into()), "{path} query");
        }
        // /v1: the check and the management API answer 400 in their envelope.
        let res = http.get(format!("{}?api_key=%00", w.server.url("/v1/check"))).send().unwrap();
        assert_eq!(res.status(), 400);
        let token = w.management_token("ada", "integrations:manage");
        for path in ["/v1/orgs/acme/integrations/%00", "/v1/orgs/ac%00me/integrations", "/v1/orgs/acme/integrations/a%1Bb/revoke"] {
            let res = http.get(w.server.url(path)).header(AUTHORIZATION, format!("Bearer {token}")).send().unwrap();
            assert_eq!(res.status(), 400, "{path}");
            let body: Value = res.json().unwrap();
            assert_eq!(body["error"]["code"], "invalid_request", "{path}");
        }
        let res = http.post(w.server.url("/v1/orgs/acme/integrations")).header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"name":"a\u0000b","scopes":["claims:read"]}"#).send().unwrap();
        assert_eq!(res.status(), 422);
        // Registration: a redirect URI with a control character or a space is refused.
        for bad in ["https://app.example.com/c\u{7}b", "https://app.example.com/c b"] {
            let out = w.db.cli(&["client", "create", "--org", "acme", "--name", "Bad", "--redirect-uri", bad, "--scope", "claims:read"]);
            assert_eq!(out.code(), 2, "{bad:?}: {}", out.stderr());
        }
    }
}
