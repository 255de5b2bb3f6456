//! The authorization-code and refresh flows, driven as a browser and a client app would.

use diesel::prelude::*;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use url::Url;

use crate::oauth_support::{Form, Pkce, REDIRECT, World, query, split, verify_with_jwks};
use crate::on_both_backends;

on_both_backends! {
    fn discovery_lists_every_endpoint_under_the_issuer(db: TestDb) {
        let w = World::new(db);
        let meta: Value = w.app().get(w.server.url("/.well-known/oauth-authorization-server")).send().unwrap().json().unwrap();
        let base = &w.server.base;
        assert_eq!(meta["issuer"], json!(base));
        for (key, path) in [
            ("authorization_endpoint", "/oauth/authorize"),
            ("token_endpoint", "/oauth/token"),
            ("revocation_endpoint", "/oauth/revoke"),
            ("introspection_endpoint", "/oauth/introspect"),
            ("jwks_uri", "/.well-known/jwks.json"),
        ] {
            assert_eq!(meta[key], json!(format!("{base}{path}")), "{key}");
        }
        assert_eq!(meta["response_types_supported"], json!(["code"]));
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(meta["authorization_response_iss_parameter_supported"], json!(true));
        assert_eq!(
            meta["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post", "none"])
        );
        let scopes = meta["scopes_supported"].as_array().unwrap();
        assert!(scopes.contains(&json!("claims:read")) && scopes.contains(&json!("integrations:manage")));
        let jwks: Value = w.app().get(w.server.url("/.well-known/jwks.json")).send().unwrap().json().unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["alg"], "ES256");
        assert!(key.get("d").is_none(), "private key material must never be published");
    }

    fn the_full_flow_signs_in_consents_exchanges_refreshes_and_revokes(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let pkce = Pkce::new();
        let url = w.authorize_url(&w.client_id, &[
            ("scope", "claims:read"), ("state", "s-123"),
            ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256"),
        ]);
        // Not signed in: the sign-in page, with security headers.
        let res = browser.get(&url).send().unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        let html = res.text().unwrap();
        assert!(html.contains("Claims &lt;App&gt;"), "the app name is escaped: {html}");
        let login = Form::parse(&html);
        assert_eq!(login.action, "/oauth/login");
        assert!(login.get("csrf_token").is_some());

        // Signing in sets an HttpOnly, SameSite=Lax session cookie and returns to authorize.
        let res = login.with("username", "alice").with("password", crate::oauth_support::PASSWORD).submit(&browser, &w.server);
        assert_eq!(res.status(), 303);
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain-http issuer: no Secure flag");
        let back_to = res.headers()[LOCATION].to_str().unwrap().to_string();
        assert!(back_to.starts_with("/oauth/authorize?"));

        // The consent page names the app and each scope with its description.
        let res = browser.get(w.server.url(&back_to)).send().unwrap();
        assert_eq!(res.status(), 200);
        let html = res.text().unwrap();
        assert!(html.contains("Claims &lt;App&gt;") && html.contains("claims:read") && html.contains("Read your claims"));
        assert!(html.contains("Approve") && html.contains("Deny"));
        let consent = Form::parse(&html);
        assert!(consent.get("csrf_token").is_some());
        let res = consent.with("decision", "approve").submit(&browser, &w.server);
        assert_eq!(res.status(), 303);
        let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert!(back.as_str().starts_with(REDIRECT));
        assert_eq!(query(&back, "state").as_deref(), Some("s-123"));
        assert_eq!(query(&back, "iss").as_deref(), Some(w.server.base.as_str()));
        let code = query(&back, "code").unwrap();

        // Exchange: a one-hour JWT access token and an opaque rotating refresh token.
        let (status, body, headers) = w.token(&[
            ("grant_type", "authorization_code"), ("code", &code),
            ("redirect_uri", REDIRECT), ("code_verifier", &pkce.verifier),
        ]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "claims:read");
        let access = body["access_token"].as_str().unwrap().to_string();
        let refresh = body["refresh_token"].as_str().unwrap().to_string();
        assert!(refresh.starts_with("tsr_rt_"));
        assert!(tessera::tokens::secret::parse("tsr", &refresh).is_some(), "refresh token checksum");

        // The access token verifies against the JWKS alone and carries RFC 9068 claims.
        let header = jsonwebtoken::decode_header(&access).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        let claims = verify_with_jwks(&w.server, &access, &w.server.base);
        assert_eq!(claims["client_id"], json!(w.client_id));
        assert_eq!(claims["scope"], "claims:read");
        assert_eq!(claims["org"], "acme");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
        assert!(claims["jti"].as_str().unwrap().len() >= 16);
        assert!(claims["sub"].as_str().is_some());
        let intro = w.introspect(&access);
        assert_eq!(intro["active"], true);
        assert_eq!((intro["token_type"].as_str(), intro["token_kind"].as_str()), (Some("Bearer"), Some("access_token")));
        assert_eq!(intro["client_id"], json!(w.client_id));

        // Refresh rotates: a new refresh token every time.
        let (status, body, headers) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        let refresh2 = body["refresh_token"].as_str().unwrap().to_string();
        let access2 = body["access_token"].as_str().unwrap().to_string();
        assert_ne!(refresh2, refresh);
        assert_eq!(w.introspect(&refresh2)["token_kind"], "refresh_token");
        assert_eq!(w.introspect(&refresh)["active"], false, "a rotated refresh token is inactive");

        // Presenting the rotated token again revokes the whole family (RFC 9700 §4.14).
        let (status, body, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        let (status, body, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh2)]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the successor died with its family");
        assert_eq!(w.introspect(&access2), json!({"active": false}));
        assert_eq!(w.introspect(&access), json!({"active": false}));
    }

    fn consent_is_remembered_until_revoked(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let first = w.tokens_for(&browser, "alice", "claims:read");
        // Signed in with remembered consent: straight back to the app.
        let pkce = Pkce::new();
        let url = w.authorize_url(&w.client_id, &[("scope", "claims:read"), ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
        let res = browser.get(&url).send().unwrap();
        assert_eq!(res.status(), 302);
        assert!(query(&Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap(), "code").is_some());
        // prompt=consent asks again; prompt=none without a session is login_required.
        let res = browser.get(format!("{url}&prompt=consent")).send().unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().unwrap().contains("Approve"));
        let res = w.app().get(format!("{url}&prompt=none&state=q")).send().unwrap();
        let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert_eq!(query(&back, "error").as_deref(), Some("login_required"));
        assert_eq!(query(&back, "state").as_deref(), Some("q"));
        assert_eq!(query(&back, "iss").as_deref(), Some(w.server.base.as_str()));

        // Revoking consent forgets it and kills the tokens of that grant.
        let out = w.db.cli(&["--json", "consent", "revoke", "--user", "alice", "--client", &w.client_id]).json();
        assert_eq!(out["grants_revoked"], 1);
        let refresh = first["refresh_token"].as_str().unwrap();
        let (status, body, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        assert_eq!(w.introspect(first["access_token"].as_str().unwrap()), json!({"active": false}));
        let res = browser.get(&url).send().unwrap();
        assert_eq!(res.status(), 200, "consent is asked again");
        w.db.cli(&["consent", "revoke", "--user", "nobody", "--client", &w.client_id]).assert_input_error("not found");
    }

    fn role_caps_scopes_and_the_deny_button_says_access_denied(db: TestDb) {
        let w = World::new(db);
        // A member asking for read+write gets read only; the page says what is withheld.
        let browser = w.browser();
        let body = w.tokens_for(&browser, "alice", "claims:read claims:write");
        assert_eq!(body["scope"], "claims:read");
        // A manager gets both.
        let body = w.tokens_for(&w.browser(), "mona", "claims:read claims:write");
        assert_eq!(body["scope"], "claims:read claims:write");
        // Only scopes above the role: access_denied, with state and iss.
        let pkce = Pkce::new();
        let url = w.authorize_url(&w.client_id, &[("scope", "claims:write"), ("state", "st"), ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
        let back = w.authorize_as(&browser, "alice", &url);
        assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(query(&back, "state").as_deref(), Some("st"));
        // Deny on the consent page (mona approved before: prompt=consent asks again).
        let fresh = w.browser();
        let url = w.authorize_url(&w.client_id, &[("scope", "claims:read"), ("state", "d"), ("prompt", "consent"), ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
        let html = fresh.get(&url).send().unwrap().text().unwrap();
        let res = Form::parse(&html).with("username", "mona").with("password", crate::oauth_support::PASSWORD).submit(&fresh, &w.server);
        // Back from sign-in, prompt=consent still holds: the page is shown, not skipped.
        let html = fresh.get(w.server.url(res.headers()[LOCATION].to_str().unwrap())).send().unwrap().text().unwrap();
        let res = Form::parse(&html).with("decision", "deny").submit(&fresh, &w.server);
        let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(query(&back, "state").as_deref(), Some("d"));
        assert_eq!(query(&back, "iss").as_deref(), Some(w.server.base.as_str()));
        assert!(query(&back, "code").is_none());
    }

    fn authorization_errors_redirect_only_to_registered_uris(db: TestDb) {
        let w = World::new(db);
        let http = w.app();
        // Unknown client or unregistered redirect URI: an error page, never a redirect.
        for url in [
            w.authorize_url("no-such-client", &[]).to_string(),
            w.authorize_url(&w.client_id, &[]).replace("9999%2Fcb", "9999%2Fevil"),
            w.authorize_url(&w.client_id, &[]).replace("http%3A%2F%2F127.0.0.1%3A9999%2Fcb", "http%3A%2F%2Fevil.example%2Fcb"),
        ] {
            let res = http.get(&url).send().unwrap();
            assert_eq!(res.status(), 400, "{url}");
            assert!(res.headers().get(LOCATION).is_none());
            assert!(res.text().unwrap().contains("Invalid authorization request"));
        }
        let pkce = Pkce::new();
        let cases: Vec<(String, &str)> = vec![
            // Public clients must use PKCE; plain is refused.
            (w.authorize_url(&w.public_id, &[("state", "a")]), "invalid_request"),
            (w.authorize_url(&w.public_id, &[("state", "a"), ("code_challenge", &pkce.verifier), ("code_challenge_method", "plain")]), "invalid_request"),
            (w.authorize_url(&w.client_id, &[("state", "a")]).replace("response_type=code", "response_type=token"), "unsupported_response_type"),
            (w.authorize_url(&w.client_id, &[("state", "a"), ("scope", "claims:delete")]), "invalid_scope"),
            (w.authorize_url(&w.client_id, &[("state", "a"), ("scope", "integrations:manage")]), "invalid_scope"),
            // RFC 7636 §4.2: an S256 challenge is 43 base64url characters; anything else
            // cannot be one, for public and confidential clients alike.
            (w.authorize_url(&w.public_id, &[("state", "a"), ("code_challenge", "abc"), ("code_challenge_method", "S256")]), "invalid_request"),
            (w.authorize_url(&w.client_id, &[("state", "a"), ("code_challenge", &format!("{}+", &pkce.challenge[..42])), ("code_challenge_method", "S256")]), "invalid_request"),
            (w.authorize_url(&w.client_id, &[("state", "a"), ("code_challenge", &format!("{}A", pkce.challenge)), ("code_challenge_method", "S256")]), "invalid_request"),
        ];
        for (url, error) in cases {
            let res = http.get(&url).send().unwrap();
            assert_eq!(res.status(), 302, "{url}");
            let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
            assert!(back.as_str().starts_with(REDIRECT));
            assert_eq!(query(&back, "error").as_deref(), Some(error), "{url}");
            assert_eq!(query(&back, "state").as_deref(), Some("a"));
            assert_eq!(query(&back, "iss").as_deref(), Some(w.server.base.as_str()));
            // §4.1.2.1: the description is `error_description`, and no parameter comes twice.
            assert!(query(&back, "error_description").is_some_and(|d| !d.is_empty()), "{back}");
            let keys: Vec<String> = back.query_pairs().map(|(k, _)| k.into_owned()).collect();
            assert!(!keys.iter().any(|k| k == "description" || k == "uri"), "{back}");
            let mut unique = keys.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), keys.len(), "a parameter twice: {back}");
        }
        // A duplicated parameter is refused without redirecting.
        let res = http.get(format!("{}&state=1&state=2", w.authorize_url(&w.client_id, &[]))).send().unwrap();
        assert_eq!(res.status(), 400);
        // The consent form's own fields are not authorization parameters: a request naming one
        // would ride along as a hidden field and decide for the user (decision=approve ahead of
        // the Deny button, or another organization).
        for field in ["decision=approve", "org=acme", "csrf_token=x"] {
            let res = http.get(format!("{}&{field}", w.authorize_url(&w.client_id, &[]))).send().unwrap();
            assert_eq!(res.status(), 400, "{field}");
            assert!(res.headers().get(LOCATION).is_none());
        }
    }

    fn redirect_uris_match_as_sent_but_for_a_loopback_port(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        // The client registered http://127.0.0.1:9999/cb. A native app listens on a port it
        // picks (RFC 8252 §7.3): any port, the rest exactly as registered.
        let pkce = Pkce::new();
        let ported = "http://127.0.0.1:51004/cb";
        let url = w.authorize_url(&w.client_id, &[("code_challenge", &pkce.challenge), ("code_challenge_method", "S256"), ("state", "s")])
            .replace("9999%2Fcb", "51004%2Fcb");
        let back = w.authorize_as(&browser, "alice", &url);
        assert!(back.as_str().starts_with(ported), "{back}");
        let code = query(&back, "code").unwrap();
        // The token request repeats redirect_uri exactly as the authorization request sent it.
        let exchange = |code: &str, redirect: Option<&str>| {
            let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.as_str())];
            if let Some(r) = redirect { form.push(("redirect_uri", r)); }
            w.token(&form)
        };
        assert_eq!(exchange(&code, Some(REDIRECT)).0, 400, "the registered port is not what was sent");
        assert_eq!(exchange(&code, Some(ported)).0, 200);
        // Scheme, host, path and query still match exactly; localhost and look-alikes get no
        // port exception.
        for (from, to) in [("9999%2Fcb", "51004%2Fcbx"), ("127.0.0.1%3A9999", "localhost%3A9999"),
            ("127.0.0.1%3A9999", "127.0.0.1.example.com%3A9999"), ("http%3A%2F%2F127.0.0.1%3A9999", "https%3A%2F%2F127.0.0.1%3A9999")] {
            let url = w.authorize_url(&w.client_id, &[]).replace(from, to);
            let res = w.app().get(&url).send().unwrap();
            assert_eq!(res.status(), 400, "{url}");
            assert!(res.headers().get(LOCATION).is_none());
        }
        // RFC 6749 §4.1.3: redirect_uri is required exactly when the authorization request
        // carried it, and then must be identical — not merely the same URL once parsed.
        let fresh = || {
            let url = w.authorize_url(&w.client_id, &[("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
            query(&w.authorize_as(&browser, "alice", &url), "code").unwrap()
        };
        let code = fresh();
        for alias in ["HTTP://127.0.0.1:9999/cb", "http://127.1:9999/cb", "http://0x7f.0.0.1:9999/cb", "http://127.0.0.1:9999/x/../cb", "http://127.0.0.1:9999/cb/"] {
            let (status, body, _) = exchange(&code, Some(alias));
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{alias}");
        }
        let (status, body, _) = exchange(&code, None);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        assert_eq!(exchange(&code, Some(REDIRECT)).0, 200);
        // Without redirect_uri in the authorization request (a client with one registered
        // URI), the code is exchanged without it too.
        let (console_id, console_secret) = &w.console;
        let url = w.authorize_url(console_id, &[("scope", "claims:read"), ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")])
            .replace("&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb", "");
        assert!(!url.contains("redirect_uri"), "{url}");
        let code = query(&w.authorize_as(&browser, "alice", &url), "code").unwrap();
        let res = w.app().post(w.server.url("/oauth/token")).basic_auth(console_id, Some(console_secret))
            .form(&[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", &pkce.verifier)])
            .send().unwrap();
        let (status, body, _) = split(res);
        assert_eq!(status, 200, "{body}");
        // RFC 6749 §3.1.2: a registered URI keeps its query, so it may not name a parameter the
        // response adds (it would come back twice), nor have a fragment.
        for bad in ["https://app.example.com/cb?state=x", "https://app.example.com/cb?a=1&code=2", "https://app.example.com/cb?iss=me",
            "https://app.example.com/cb?error=x", "https://app.example.com/cb#frag"] {
            let out = w.db.cli(&["client", "create", "--org", "acme", "--name", "Bad", "--redirect-uri", bad, "--scope", "claims:read"]);
            assert_eq!(out.code(), 2, "{bad}: {}", out.stderr());
        }
        let kept = w.db.cli(&["--json", "client", "create", "--org", "acme", "--name", "Query", "--redirect-uri",
            "https://app.example.com/cb?tenant=7", "--scope", "claims:read"]).json();
        assert_eq!(kept["redirect_uris"][0], "https://app.example.com/cb?tenant=7", "{kept}");
        // One registered before that rule existed is not used: no answer carries a parameter twice.
        use tessera::store::schema::clients::dsl as c;
        let created = w.db.cli(&["--json", "client", "create", "--org", "acme", "--name", "Legacy", "--redirect-uri", REDIRECT,
            "--scope", "claims:read"]).json();
        let legacy_id = created["client_id"].as_str().unwrap();
        let legacy = "http://127.0.0.1:9999/cb?state=registered";
        diesel::update(c::clients.filter(c::client_id.eq(legacy_id))).set(c::redirect_uris.eq(legacy))
            .execute(&mut *w.db.conn()).unwrap();
        let url = w.authorize_url(legacy_id, &[("state", "client-value")])
            .replace("9999%2Fcb", "9999%2Fcb%3Fstate%3Dregistered");
        let res = w.app().get(&url).send().unwrap();
        assert_eq!(res.status(), 400, "{url}");
        assert!(res.headers().get(LOCATION).is_none());
    }

    fn a_client_may_opt_in_to_a_refresh_rotation_grace(db: TestDb) {
        let w = World::new(db);
        // At most five minutes; the default is strict.
        let out = w.db.cli(&["client", "create", "--org", "acme", "--name", "Too lax", "--redirect-uri", REDIRECT,
            "--scope", "claims:read", "--refresh-grace", "301s"]);
        assert_eq!(out.code(), 2, "{}", out.stderr());
        let created = w.db.cli(&["--json", "client", "create", "--org", "acme", "--name", "Mobile", "--redirect-uri", REDIRECT,
            "--scope", "claims:read", "--refresh-grace", "30s"]).json();
        assert_eq!(created["refresh_grace"], "30s", "{created}");
        let (id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
        let refresh = |rt: &str| {
            let res = w.app().post(w.server.url("/oauth/token")).basic_auth(id, Some(secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)]).send().unwrap();
            split(res)
        };
        let first = w.tokens_for_client(&w.browser(), "alice", "claims:read", id, secret);
        let rt1 = first["refresh_token"].as_str().unwrap().to_string();
        let (status, second, _) = refresh(&rt1);
        assert_eq!(status, 200, "{second}");
        let rt2 = second["refresh_token"].as_str().unwrap().to_string();
        // The app lost that response and retries with rt1 within the grace: a working successor
        // of its own, and the family lives on.
        let (status, retried, _) = refresh(&rt1);
        assert_eq!(status, 200, "{retried}");
        let rt3 = retried["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(rt3, rt2);
        assert_eq!(w.introspect(second["access_token"].as_str().unwrap())["active"], true);
        // Once: a second retry of rt1, even within the grace, is reuse.
        let (status, _, _) = refresh(&rt3);
        assert_eq!(status, 200, "the retry's successor works");
        let (status, body, _) = refresh(&rt1);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a second retry");
        let (status, _, _) = refresh(&rt2);
        assert_eq!(status, 400, "the family is revoked");
        // A new family, to see the window close.
        let first = w.tokens_for_client(&w.browser(), "alice", "claims:read", id, secret);
        let rt1 = first["refresh_token"].as_str().unwrap().to_string();
        let (status, second, _) = refresh(&rt1);
        assert_eq!(status, 200);
        let rt2 = second["refresh_token"].as_str().unwrap().to_string();
        // Once the grace has passed, presenting rt1 again is reuse: the family is revoked, with
        // every successor.
        let mut conn = w.db.conn();
        use tessera::store::schema::refresh_tokens::dsl as rt;
        let past = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(31);
        let hash = tessera::tokens::secret::SecretHash::of(&rt1).0.to_vec();
        diesel::update(rt::refresh_tokens.filter(rt::token_hash.eq(hash)))
            .set(rt::rotated_at.eq(Some(past)))
            .execute(&mut *conn).unwrap();
        drop(conn);
        let (status, body, _) = refresh(&rt1);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        let (status, _, _) = refresh(&rt2);
        assert_eq!(status, 400, "the family is revoked");
        // Without the opt-in, a rotated token presented again revokes its family at once.
        let strict = w.tokens_for(&w.browser(), "alice", "claims:read");
        let rt = strict["refresh_token"].as_str().unwrap();
        let (status, next, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", rt)]);
        assert_eq!(status, 200);
        assert_eq!(w.token(&[("grant_type", "refresh_token"), ("refresh_token", rt)]).0, 400);
        assert_eq!(w.token(&[("grant_type", "refresh_token"), ("refresh_token", next["refresh_token"].as_str().unwrap())]).0, 400);
    }

    fn token_endpoint_errors_follow_rfc_6749(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let new_code = |pkce: &Pkce| {
            let url = w.authorize_url(&w.client_id, &[("scope", "claims:read"), ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
            query(&w.authorize_as(&browser, "alice", &url), "code").unwrap()
        };
        let pkce = Pkce::new();
        let code = new_code(&pkce);
        let exchange = |code: &str, verifier: &str, redirect: &str| {
            w.token(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect), ("code_verifier", verifier)])
        };
        let err = |r: (u16, Value, reqwest::header::HeaderMap)| (r.0, r.1["error"].as_str().unwrap_or("").to_string());
        // invalid_request / unsupported_grant_type
        assert_eq!(err(w.token(&[("grant_type", "authorization_code")])), (400, "invalid_request".into()));
        assert_eq!(err(w.token(&[("code", &code)])), (400, "invalid_request".into()));
        assert_eq!(err(w.token(&[("grant_type", "client_credentials")])), (400, "unsupported_grant_type".into()));
        assert_eq!(err(w.token(&[("grant_type", "password"), ("username", "a")])), (400, "unsupported_grant_type".into()));
        // Wrong verifier, wrong redirect_uri, unknown code: invalid_grant — and a failed
        // attempt does not burn the code.
        assert_eq!(err(exchange(&code, "wrong-verifier-wrong-verifier-wrong-verifier-00", REDIRECT)), (400, "invalid_grant".into()));
        assert_eq!(err(exchange(&code, &pkce.verifier, "https://app.example.com/cb")), (400, "invalid_grant".into()));
        assert_eq!(err(exchange("no-such-code", &pkce.verifier, REDIRECT)), (400, "invalid_grant".into()));
        // RFC 7636 §4.1: a verifier is 43–128 characters of [A-Za-z0-9-._~]; anything else is
        // a malformed request, and it does not burn the code either.
        let long = "v".repeat(129);
        let short = "v".repeat(42);
        let with = |c: char| format!("{}{c}", &"v".repeat(50));
        for bad in ["a", short.as_str(), long.as_str(), &with('+'), &with('/'), &with(' ')] {
            assert_eq!(err(exchange(&code, bad, REDIRECT)), (400, "invalid_request".into()), "{bad:?}");
        }
        // A parameter given twice is refused in a JSON body as in a form (RFC 6749 §3.2).
        let res = w.app().post(w.server.url("/oauth/token"))
            .basic_auth(&w.client_id, Some(&w.client_secret))
            .header(CONTENT_TYPE, "application/json")
            .body(format!(r#"{{"grant_type":"authorization_code","code":"x","code":{},"redirect_uri":"{REDIRECT}","code_verifier":"{}"}}"#,
                json!(code), pkce.verifier))
            .send().unwrap();
        let (status, body, _) = split(res);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("more than once"), "{body}");
        // invalid_client with 401 and a Basic challenge.
        let res = w.app().post(w.server.url("/oauth/token"))
            .basic_auth(&w.client_id, Some("tsr_cs_wrong"))
            .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", &pkce.verifier)])
            .send().unwrap();
        let (status, body, headers) = split(res);
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        assert!(headers[WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic"));
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        // The right one works (client_secret_post, JSON body) …
        let res = w.app().post(w.server.url("/oauth/token"))
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": pkce.verifier, "client_id": w.client_id, "client_secret": w.client_secret}).to_string())
            .send().unwrap();
        let (status, first, _) = split(res);
        assert_eq!(status, 200, "{first}");
        // … once: a replayed code is invalid_grant and revokes what it issued.
        assert_eq!(err(exchange(&code, &pkce.verifier, REDIRECT)), (400, "invalid_grant".into()));
        assert_eq!(w.introspect(first["access_token"].as_str().unwrap()), json!({"active": false}));
        let (status, body, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        // A refresh may narrow scope, never widen it.
        let wide = w.tokens_for(&w.browser(), "mona", "claims:read");
        let rt = wide["refresh_token"].as_str().unwrap();
        assert_eq!(err(w.token(&[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "claims:read claims:write")])), (400, "invalid_scope".into()));
        let (status, narrowed, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "claims:read")]);
        assert_eq!(status, 200, "{narrowed}");
        // Missing client authentication for a confidential client.
        let (status, body, _) = w.token_unauthenticated(&[("grant_type", "refresh_token"), ("refresh_token", narrowed["refresh_token"].as_str().unwrap())]);
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        // Basic plus client_secret in the body is two methods at once.
        let (status, body, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_secret", "y")]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        // A body over the limit is refused before it is read.
        let big = "x".repeat(64 * 1024);
        let (status, body, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &big)]);
        assert_eq!((status, body["error"].as_str()), (413, Some("invalid_request")));
    }

    fn a_client_without_the_refresh_grant_is_unauthorized_for_it(db: TestDb) {
        let w = World::new(db);
        let created = w.db.cli(&["--json", "client", "create", "--org", "acme", "--name", "No refresh",
            "--redirect-uri", REDIRECT, "--scope", "claims:read", "--grant-type", "authorization_code"]).json();
        let id = created["client_id"].as_str().unwrap();
        let secret = created["client_secret"].as_str().unwrap();
        let browser = w.browser();
        let pkce = Pkce::new();
        let url = w.authorize_url(id, &[("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
        let code = query(&w.authorize_as(&browser, "alice", &url), "code").unwrap();
        let res = w.app().post(w.server.url("/oauth/token")).basic_auth(id, Some(secret))
            .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", &pkce.verifier)])
            .send().unwrap();
        let (status, body, _) = split(res);
        assert_eq!(status, 200);
        assert!(body.get("refresh_token").is_none(), "no refresh token for such a client");
        let res = w.app().post(w.server.url("/oauth/token")).basic_auth(id, Some(secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "tsr_rt_x")])
            .send().unwrap();
        let (status, body, _) = split(res);
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    }

    fn public_clients_use_pkce_and_refresh_with_client_id_alone(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let pkce = Pkce::new();
        let url = w.authorize_url(&w.public_id, &[("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
        let code = query(&w.authorize_as(&browser, "alice", &url), "code").unwrap();
        // Without the verifier: invalid_grant.
        let (status, body, _) = w.token_unauthenticated(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("client_id", &w.public_id)]);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        let (status, body, _) = w.token_unauthenticated(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("client_id", &w.public_id), ("code_verifier", &pkce.verifier)]);
        assert_eq!(status, 200, "{body}");
        let rt = body["refresh_token"].as_str().unwrap();
        // Another client's id cannot use it; the right one can.
        let (status, bad, _) = w.token_unauthenticated(&[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &w.client_id)]);
        assert_eq!(status, 401, "{bad}");
        let (status, body, _) = w.token_unauthenticated(&[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &w.public_id)]);
        assert_eq!(status, 200, "{body}");
        // Public clients may not introspect.
        let res = w.app().post(w.server.url("/oauth/introspect")).form(&[("token", rt), ("client_id", &w.public_id)]).send().unwrap();
        assert_eq!(res.status(), 401);
    }

    fn concurrent_use_of_one_refresh_token_lets_exactly_one_through(db: TestDb) {
        let w = World::new(db);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let rt = body["refresh_token"].as_str().unwrap().to_string();
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..20)
                .map(|_| s.spawn(|| w.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]).0))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|&s| s == 200 || s == 400), "{statuses:?}");
    }

    fn revocation_and_introspection(db: TestDb) {
        let w = World::new(db);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        // Introspection needs client authentication.
        let res = w.app().post(w.server.url("/oauth/introspect")).form(&[("token", access)]).send().unwrap();
        assert_eq!(res.status(), 401);
        let intro = w.introspect(access);
        for key in ["scope", "client_id", "sub", "org", "exp", "iat", "token_type"] {
            assert!(intro.get(key).is_some(), "{key} in {intro}");
        }
        assert_eq!(w.introspect("garbage"), json!({"active": false}));
        // Revoking an access token kills it alone.
        let revoke = |token: &str, hint: Option<&str>| {
            let mut form = vec![("token", token)];
            if let Some(h) = hint { form.push(("token_type_hint", h)); }
            w.app().post(w.server.url("/oauth/revoke")).header(AUTHORIZATION, w.basic()).form(&form).send().unwrap()
        };
        let res = revoke(access, Some("refresh_token"));
        assert_eq!(res.status(), 200);
        assert_eq!(w.introspect(access), json!({"active": false}));
        assert_eq!(w.introspect(refresh)["active"], true);
        // Revoking a refresh token kills its family.
        let (_, refreshed, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]);
        let rt2 = refreshed["refresh_token"].as_str().unwrap();
        let at2 = refreshed["access_token"].as_str().unwrap();
        assert_eq!(revoke(rt2, None).status(), 200);
        assert_eq!(w.introspect(at2), json!({"active": false}));
        let (status, _, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", rt2)]);
        assert_eq!(status, 400);
        // Unknown tokens: 200 all the same; no client auth: 401.
        assert_eq!(revoke("tsr_rt_unknown", None).status(), 200);
        let res = w.app().post(w.server.url("/oauth/revoke")).form(&[("token", rt2)]).send().unwrap();
        assert_eq!(res.status(), 401);
    }

    fn a_rotated_client_secret_keeps_working_through_its_grace_period(db: TestDb) {
        let w = World::new(db);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let rt = body["refresh_token"].as_str().unwrap().to_string();
        let rotated = w.db.cli(&["--json", "client", "rotate-secret", &w.client_id, "--grace", "1h"]).json();
        let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
        // The new secret works at once, though this server knew the client from before the
        // CLI rotated its secret: the store is asked before a credential is refused.
        let res = w.app().post(w.server.url("/oauth/introspect")).basic_auth(&w.client_id, Some(&new_secret))
            .form(&[("token", "garbage")]).send().unwrap();
        assert_eq!(res.status(), 200);
        // Old secret still works during the grace period…
        let (status, body, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
        assert_eq!(status, 200, "{body}");
        let rt = body["refresh_token"].as_str().unwrap().to_string();
        // … and a rotation without grace ends it: at once where it is made, within a second
        // on servers that learn it from the revocation feed (the CLI is another process). A
        // bogus refresh token tells the two apart without using up the real one: 400 while
        // the secret is accepted, 401 once it is not.
        let rotated = w.db.cli(&["--json", "client", "rotate-secret", &w.client_id]).json();
        let newest = rotated["client_secret"].as_str().unwrap().to_string();
        let started = std::time::Instant::now();
        loop {
            let (status, _, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", "tsr_rt_bogus")]);
            if status == 401 { break; }
            assert_eq!(status, 400);
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "old secret still accepted");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (status, _, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
        assert_eq!(status, 401);
        for (secret, expected) in [(&new_secret, 401), (&newest, 200)] {
            let res = w.app().post(w.server.url("/oauth/token")).basic_auth(&w.client_id, Some(secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]).send().unwrap();
            assert_eq!(res.status().as_u16(), expected);
        }
    }

    fn sign_in_refuses_wrong_passwords_and_forged_forms(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let pkce = Pkce::new();
        let url = w.authorize_url(&w.client_id, &[("code_challenge", &pkce.challenge), ("code_challenge_method", "S256")]);
        let form = Form::parse(&browser.get(&url).send().unwrap().text().unwrap());
        for (user, password) in [("alice", "wrong-password"), ("nobody", "whatever-password")] {
            let res = form.clone_with(user, password).submit(&browser, &w.server);
            assert_eq!(res.status(), 401);
            assert!(res.text().unwrap().contains("Invalid username or password"));
        }
        // Without the anti-forgery token (a cross-site POST), nothing happens.
        let forged = Form { action: form.action.clone(), fields: form.fields.iter().filter(|(k, _)| k != "csrf_token").cloned().collect() }
            .with("username", "alice").with("password", crate::oauth_support::PASSWORD);
        assert_eq!(forged.submit(&browser, &w.server).status(), 403);
        // return_to may only point back at the authorization endpoint.
        let evil = form.clone_with("alice", crate::oauth_support::PASSWORD).with("return_to", "https://evil.example/");
        assert_eq!(evil.submit(&browser, &w.server).status(), 400);
        // A consent form without the session's token is refused.
        let res = form.clone_with("alice", crate::oauth_support::PASSWORD).submit(&browser, &w.server);
        let html = browser.get(w.server.url(res.headers()[LOCATION].to_str().unwrap())).send().unwrap().text().unwrap();
        let consent = Form::parse(&html).with("csrf_token", "forged").with("decision", "approve");
        assert_eq!(consent.submit(&browser, &w.server).status(), 403);
    }

    fn rotated_signing_keys_stay_published_until_their_tokens_expire(db: TestDb) {
        // A fixed issuer: the restarted server listens on another port.
        let fixed = [("TESSERA_ISSUER", "http://issuer.test")];
        let w = World::with_config(db, &fixed);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let old = body["access_token"].as_str().unwrap().to_string();
        let out = w.db.cli(&["--json", "keys", "rotate", "--alg", "EdDSA"]).json();
        let new_kid = out["kid"].as_str().unwrap().to_string();
        // A restarted server signs with the new key and still accepts the old one.
        let w = w.restart(&fixed);
        let jwks: Value = w.app().get(w.server.url("/.well-known/jwks.json")).send().unwrap().json().unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let new = body["access_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(new).unwrap();
        assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        verify_with_jwks(&w.server, new, "http://issuer.test");
        assert_eq!(w.introspect(&old)["active"], true);
        let keys = w.db.cli(&["--json", "keys", "list"]).json();
        assert_eq!(keys.as_array().unwrap().len(), 2);
    }
}

impl Form {
    fn clone_with(&self, user: &str, password: &str) -> Form {
        Form {
            action: self.action.clone(),
            fields: self.fields.clone(),
        }
        .with("username", user)
        .with("password", password)
    }
}
