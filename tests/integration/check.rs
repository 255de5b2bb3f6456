//! `/v1/check` and introspection: every branch of the decision order for each token kind,
//! the envelopes and headers, source addresses, failing closed, and a second instance.

use diesel::prelude::*;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::oauth_support::World;
use crate::on_both_backends;
use crate::support::TestDb;

struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

fn check(w: &World, token: Option<&str>, scope: Option<&str>, extra: &[(&str, &str)]) -> Answer {
    check_at(&w.server.base, token, scope, extra)
}

fn check_at(
    base: &str,
    token: Option<&str>,
    scope: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut req = reqwest::blocking::Client::new().get(format!("{base}/v1/check"));
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(s) = scope {
        req = req.header("X-Required-Scope", s);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}

#[track_caller]
fn assert_unauthorized(a: &Answer, token_given: bool) {
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "unauthorized", "{}", a.body);
    let challenge = a.headers[WWW_AUTHENTICATE].to_str().unwrap();
    assert_eq!(
        challenge.contains("error=\"invalid_token\""),
        token_given,
        "{challenge}"
    );
    assert!(a.headers.get("x-auth-subject").is_none());
}

#[track_caller]
fn assert_forbidden(a: &Answer, scope: &str) {
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "forbidden_scope");
    assert_eq!(a.body["error"]["required_scope"], scope);
    let challenge = a.headers[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains(&format!("scope=\"{scope}\"")),
        "{challenge}"
    );
}

fn integration(w: &World, extra: &[&str]) -> (String, String) {
    w.create_integration("Gateway test", extra)
}

/// Signs a token with the server's own current key, to build tokens the server would never
/// issue (expired, wrong issuer or audience).
fn forge(db: &TestDb, claims: Value) -> String {
    let mut conn = db.conn();
    use tessera::store::schema::signing_keys::dsl::*;
    let (k, der): (String, Vec<u8>) = signing_keys
        .filter(retired_at.is_null())
        .select((kid, private_key))
        .first(&mut *conn)
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(k);
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&der),
    )
    .unwrap()
}

on_both_backends! {
    fn a_cached_decision_never_outlives_the_inactivity_limit_and_refusals_are_not_use(db: TestDb) {
        // The decision cache is on (30 s): the first check caches the decision.
        let w = World::new(db);
        let (id, token) = integration(&w, &["--inactive-after", "1s"]);
        assert_eq!(check(&w, Some(&token), Some("claims:read"), &[]).status, 200);
        // Time passing is the point here: one second without a use ends the token, on this
        // instance too, though it still holds the decision made while the token was alive.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let a = check(&w, Some(&token), Some("claims:read"), &[]);
        assert_unauthorized(&a, true);
        // … and that refused request did not count as a use that brings it back.
        assert_unauthorized(&check(&w, Some(&token), Some("claims:read"), &[]), true);
        // A request refused for its scope is no use either.
        let (other, live) = integration(&w, &[]);
        assert_eq!(check(&w, Some(&live), Some("claims:write"), &[]).status, 403);
        let w = w.restart(&[]);
        let uses = |id: &str| w.db.cli(&["--json", "integration", "show", id]).json()["use_count"].clone();
        assert_eq!(uses(&id), json!(1), "only the allowed check counts");
        assert_eq!(uses(&other), json!(0), "a 403 is not a use");
    }

    fn integration_tokens_through_every_step_of_the_decision(db: TestDb) {
        let w = World::new(db);
        let (id, token) = integration(&w, &[]);
        // 200: JSON and X-Auth-* headers for the gateway.
        let a = check(&w, Some(&token), Some("claims:read"), &[]);
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["active"], true);
        assert_eq!(a.body["token_type"], "integration_token");
        assert_eq!(a.body["integration_id"], json!(id));
        assert_eq!(a.body["sub"], json!(id));
        assert_eq!(a.body["org"], "acme");
        assert_eq!(a.body["scope"], "claims:read");
        assert_eq!(a.headers["x-auth-subject"], id.as_str());
        assert_eq!(a.headers["x-auth-org"], "acme");
        assert_eq!(a.headers["x-auth-scope"], "claims:read");
        // Every required scope must be held: 403 with the scope named.
        assert_forbidden(&check(&w, Some(&token), Some("claims:read claims:write"), &[]), "claims:write");
        // No token: a bare challenge; garbage, a wrong checksum or an unknown token: invalid_token.
        assert_unauthorized(&check(&w, None, None, &[]), false);
        assert_unauthorized(&check(&w, Some("garbage"), None, &[]), true);
        let mut bad = token.clone().into_bytes();
        let n = bad.len() - 10;
        bad[n] = if bad[n] == b'a' { b'b' } else { b'a' };
        assert_unauthorized(&check(&w, Some(std::str::from_utf8(&bad).unwrap()), None, &[]), true);
        let unknown = tessera::tokens::secret::mint("tsr", tessera::tokens::secret::SecretKind::Live).plaintext;
        assert_unauthorized(&check(&w, Some(&unknown), None, &[]), true);
        // ?api_key= and ?scope= for callers that cannot set headers; POST works too.
        let res = reqwest::blocking::get(w.server.url(&format!("/v1/check?api_key={token}&scope=claims:read"))).unwrap();
        assert_eq!(res.status(), 200);
        let res = reqwest::blocking::get(w.server.url(&format!("/v1/check?api_key={token}&scope=claims:write"))).unwrap();
        assert_eq!(res.status(), 403);
        let res = reqwest::blocking::Client::new().post(w.server.url("/v1/check")).bearer_auth(&token).send().unwrap();
        assert_eq!(res.status(), 200);
        // Revocation through the API is honoured at once, on this instance.
        let admin = w.management_token("ada", "integrations:manage");
        let http = reqwest::blocking::Client::new();
        let res = http.post(w.server.url(&format!("/v1/orgs/acme/integrations/{id}/revoke"))).bearer_auth(&admin).send().unwrap();
        assert_eq!(res.status(), 200);
        assert_unauthorized(&check(&w, Some(&token), Some("claims:read"), &[]), true);
    }

    fn rotation_and_expiry_are_honoured_at_once(db: TestDb) {
        let w = World::new(db);
        let (id, t1) = integration(&w, &[]);
        let admin = w.management_token("ada", "integrations:manage");
        let http = reqwest::blocking::Client::new();
        let path = |s: &str| w.server.url(&format!("/v1/orgs/acme/integrations/{id}{s}"));
        assert_eq!(check(&w, Some(&t1), None, &[]).status, 200);
        let r: Value = http.post(path("/rotate")).bearer_auth(&admin).json(&json!({"grace": "10m"})).send().unwrap().json().unwrap();
        let t2 = r["token"].as_str().unwrap().to_string();
        assert_eq!(check(&w, Some(&t1), None, &[]).status, 200, "old token works during the grace period");
        assert_eq!(check(&w, Some(&t2), None, &[]).status, 200);
        let r: Value = http.post(path("/rotate")).bearer_auth(&admin).send().unwrap().json().unwrap();
        let t3 = r["token"].as_str().unwrap().to_string();
        assert_unauthorized(&check(&w, Some(&t1), None, &[]), true);
        assert_unauthorized(&check(&w, Some(&t2), None, &[]), true);
        assert_eq!(check(&w, Some(&t3), None, &[]).status, 200);
        let res = http.post(path("/expire")).bearer_auth(&admin).send().unwrap();
        assert_eq!(res.status(), 200);
        assert_unauthorized(&check(&w, Some(&t3), None, &[]), true);
    }

    fn ip_allowlists_believe_only_trusted_proxies(db: TestDb) {
        // The test client connects from 127.0.0.1, a trusted proxy by default.
        let w = World::new(db);
        let (_, token) = integration(&w, &["--allow-ip", "10.0.0.0/8", "--allow-ip", "2001:db8::/32"]);
        assert_unauthorized(&check(&w, Some(&token), None, &[]), true);
        let from = |xff: &str| check(&w, Some(&token), None, &[("X-Forwarded-For", xff)]);
        assert_eq!(from("10.1.2.3").status, 200);
        assert_eq!(from("2001:db8::7").status, 200);
        assert_eq!(from("10.1.2.3, 127.0.0.1").status, 200, "trusted hops are skipped from the right");
        assert_unauthorized(&from("10.1.2.3, 203.0.113.9"), true);
        assert_unauthorized(&from("192.0.2.1"), true);
        // Outside the allowlist is 401 even when a scope is also missing.
        assert_unauthorized(&check(&w, Some(&token), Some("claims:write"), &[("X-Forwarded-For", "192.0.2.1")]), true);
        assert_forbidden(&check(&w, Some(&token), Some("claims:write"), &[("X-Forwarded-For", "10.9.9.9")]), "claims:write");
        // When the peer is not a trusted proxy, X-Forwarded-For is ignored.
        let w = w.restart(&[("TESSERA_TRUSTED_PROXIES", "192.0.2.250/32")]);
        assert_unauthorized(&check(&w, Some(&token), None, &[("X-Forwarded-For", "10.1.2.3")]), true);
        let (_, local) = integration(&w, &["--allow-ip", "127.0.0.1"]);
        assert_eq!(check(&w, Some(&local), None, &[("X-Forwarded-For", "10.1.2.3")]).status, 200, "the peer address counts");
    }

    fn inactive_integration_tokens_are_refused(db: TestDb) {
        let w = World::with_config(db, &[("TESSERA_CHECK_CACHE_TTL", "0s")]);
        let (id, token) = integration(&w, &["--inactive-after", "1d"]);
        assert_eq!(check(&w, Some(&token), None, &[]).status, 200);
        let long_ago = (chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(2)).format("%Y-%m-%d %H:%M:%S").to_string();
        let w = w.restart(&[("TESSERA_CHECK_CACHE_TTL", "0s")]); // writes the pending usage first
        let mut conn = w.db.conn();
        diesel::sql_query(format!("UPDATE integration_tokens SET created_at = '{long_ago}', last_used_at = '{long_ago}' WHERE integration_id = '{id}'"))
            .execute(&mut *conn).unwrap();
        drop(conn);
        assert_unauthorized(&check(&w, Some(&token), None, &[]), true);
    }

    fn jwt_access_tokens_through_every_step_of_the_decision(db: TestDb) {
        let w = World::new(db);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let access = body["access_token"].as_str().unwrap().to_string();
        let refresh = body["refresh_token"].as_str().unwrap().to_string();
        let a = check(&w, Some(&access), Some("claims:read"), &[]);
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["token_type"], "access_token");
        assert_eq!(a.body["client_id"], json!(w.client_id));
        assert_eq!(a.body["org"], "acme");
        assert!(a.body["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
        assert_eq!(a.headers["x-auth-client-id"], w.client_id.as_str());
        assert_forbidden(&check(&w, Some(&access), Some("claims:write"), &[]), "claims:write");
        // A refresh token or a client secret is never a bearer credential.
        assert_unauthorized(&check(&w, Some(&refresh), None, &[]), true);
        assert_unauthorized(&check(&w, Some(&w.client_secret), None, &[]), true);
        // Tokens the server did not issue as they are: expired, other issuer or audience,
        // tampered, unknown key.
        let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&access).unwrap().claims;
        let now = chrono::Utc::now().timestamp();
        let mut expired = claims.clone();
        expired["iat"] = json!(now - 7200);
        expired["exp"] = json!(now - 3600);
        assert_unauthorized(&check(&w, Some(&forge(&w.db, expired)), None, &[]), true);
        let mut other_iss = claims.clone();
        other_iss["iss"] = json!("https://evil.example");
        assert_unauthorized(&check(&w, Some(&forge(&w.db, other_iss)), None, &[]), true);
        let mut other_aud = claims.clone();
        other_aud["aud"] = json!("https://another-api.example");
        assert_unauthorized(&check(&w, Some(&forge(&w.db, other_aud)), None, &[]), true);
        assert_eq!(check(&w, Some(&forge(&w.db, claims.clone())), None, &[]).status, 200, "the forger is sound");
        let mut tampered = access.clone();
        tampered.truncate(tampered.len() - 4);
        tampered.push_str("AAAA");
        assert_unauthorized(&check(&w, Some(&tampered), None, &[]), true);
        // Revoked through RFC 7009 on this instance: refused at once.
        let res = w.app().post(w.server.url("/oauth/revoke")).header(AUTHORIZATION, w.basic()).form(&[("token", access.as_str())]).send().unwrap();
        assert_eq!(res.status(), 200);
        assert_unauthorized(&check(&w, Some(&access), None, &[]), true);
        // A replayed refresh token revokes the family, and its access tokens with it.
        let (_, next, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        let access2 = next["access_token"].as_str().unwrap().to_string();
        assert_eq!(check(&w, Some(&access2), None, &[]).status, 200);
        let (status, _, _) = w.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        assert_eq!(status, 400);
        assert_unauthorized(&check(&w, Some(&access2), None, &[]), true);
    }

    fn changes_made_by_the_cli_reach_cached_decisions_before_it_returns(db: TestDb) {
        let w = World::new(db);
        let (id, token) = integration(&w, &[]);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let access = body["access_token"].as_str().unwrap().to_string();
        for t in [&token, &access] {
            assert_eq!(check(&w, Some(t), None, &[]).status, 200);
            assert_eq!(check(&w, Some(t), None, &[]).status, 200, "now cached");
        }
        // Another process changes the store; it returns once the server has read the
        // revocation feed, so the very next check is refused.
        w.db.cli(&["--json", "integration", "revoke", &id]).json();
        assert_unauthorized(&check(&w, Some(&token), None, &[]), true);
        w.db.cli(&["--json", "consent", "revoke", "--user", "alice", "--client", &w.client_id]).json();
        assert_unauthorized(&check(&w, Some(&access), None, &[]), true);
    }

    fn introspection_describes_every_token_kind(db: TestDb) {
        let w = World::new(db);
        let body = w.tokens_for(&w.browser(), "alice", "claims:read");
        let (id, integration_token) = integration(&w, &[]);
        let at = w.introspect(body["access_token"].as_str().unwrap());
        let rt = w.introspect(body["refresh_token"].as_str().unwrap());
        let it = w.introspect(&integration_token);
        assert_eq!((at["token_kind"].as_str(), rt["token_kind"].as_str(), it["token_kind"].as_str()),
            (Some("access_token"), Some("refresh_token"), Some("integration_token")));
        // RFC 7662 §2.2: token_type is the RFC 6749 §7.1 type; a refresh token has none.
        assert_eq!((at["token_type"].as_str(), rt.get("token_type"), it["token_type"].as_str()),
            (Some("Bearer"), None, Some("Bearer")));
        for d in [&at, &rt, &it] {
            for key in ["active", "scope", "sub", "org", "exp", "iat", "token_kind"] {
                assert!(d.get(key).is_some() || (key == "exp" && d["token_kind"] == "integration_token"), "{key} in {d}");
            }
        }
        assert_eq!(it["integration_id"], json!(id));
        assert_eq!(at["client_id"], json!(w.client_id));
        assert_eq!(w.introspect(&w.client_secret), json!({"active": false}));
    }
}

/// The store cannot answer: refuse with 503 rather than guess — except for tokens whose
/// shape already proves them invalid, which need no store.
#[test]
fn check_and_introspection_fail_closed_when_postgresql_is_gone() {
    let Some(db) = TestDb::postgres() else { return };
    let w = World::with_config(db, &[("TESSERA_CHECK_CACHE_TTL", "0s")]);
    let (_, token) = integration(&w, &[]);
    assert_eq!(check(&w, Some(&token), None, &[]).status, 200);
    let last = token.chars().last().unwrap();
    let garbage_checksum = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    // Kill the database under the running server.
    let World { server, db, .. } = w;
    drop(db);
    let a = check_at(&server.base, Some(&token), None, &[]);
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "unavailable");
    assert!(a.headers.get("retry-after").is_some());
    let bad = check_at(&server.base, Some(&garbage_checksum), None, &[]);
    assert_eq!(
        bad.status, 401,
        "a bad checksum is refused without the store"
    );
}
