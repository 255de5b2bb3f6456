//! Private-integration tokens through the CLI and the HTTP API, on both backends.

use diesel::prelude::*;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::oauth_support::World;
use crate::on_both_backends;
use crate::support::TestDb;

/// Calls the management API with a bearer token; returns status and JSON body.
pub(crate) fn api(
    w: &World,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let http = w.app();
    let url = w.server.url(path);
    let mut req = match method {
        "GET" => http.get(&url),
        "POST" => http.post(&url),
        "PATCH" => http.patch(&url),
        other => panic!("{other}"),
    };
    if let Some(b) = bearer {
        req = req.header(AUTHORIZATION, format!("Bearer {b}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let text = res.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn active(w: &World, token: &str) -> bool {
    w.introspect(token)["active"] == json!(true)
}

/// Moves a timestamp column into the past for one integration's tokens — time passing,
/// without waiting for it.
fn age_tokens(db: &TestDb, integration_id: &str, set: &str) {
    let mut conn = db.conn();
    diesel::sql_query(format!(
        "UPDATE integration_tokens SET {set} WHERE integration_id = '{integration_id}'"
    ))
    .execute(&mut *conn)
    .unwrap();
}

fn past(seconds: i64) -> String {
    (chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(seconds))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn assert_plaintext_not_stored(db: &TestDb, token: &str) {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        token_hash: Vec<u8>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        prefix: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        last4: String,
    }
    let mut conn = db.conn();
    let rows: Vec<Row> =
        diesel::sql_query("SELECT token_hash, prefix, last4 FROM integration_tokens")
            .load(&mut *conn)
            .unwrap();
    let hash = tessera::tokens::secret::SecretHash::of(token).0.to_vec();
    assert!(
        rows.iter().any(|r| r.token_hash == hash),
        "the SHA-256 is stored"
    );
    for r in &rows {
        assert!(
            !token.contains(&format!("{}{}", r.prefix, r.last4))
                || r.prefix.len() + r.last4.len() < token.len()
        );
        assert_ne!(String::from_utf8_lossy(&r.token_hash), token);
    }
    // No text column anywhere holds the token.
    for table in ["integrations", "integration_tokens", "audit_events"] {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let cols = match table {
            "integrations" => "id || name || description || scopes || allow_ips",
            "integration_tokens" => "prefix || last4 || COALESCE(last_used_ip, '')",
            _ => "actor || action || COALESCE(target, '') || COALESCE(detail, '')",
        };
        let q = format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE {cols} LIKE '%{}%'",
            &token[12..]
        );
        let n: N = diesel::sql_query(q).get_result(&mut *conn).unwrap();
        assert_eq!(n.n, 0, "{table} holds the token");
    }
}

on_both_backends! {
    fn cli_creates_shows_lists_and_never_reveals_a_token_again(db: TestDb) {
        let w = World::new(db);
        let out = w.db.cli(&[
            "--json", "integration", "create", "--org", "acme", "--name", "Billing sync",
            "--scope", "claims:read claims:write", "--description", "Nightly export",
            "--env", "test", "--expires-in", "90d", "--allow-ip", "10.0.0.0/8", "--allow-ip", "2001:db8::/32",
            "--inactive-after", "30d", "--created-by", "ada",
        ]);
        let created = out.json();
        let token = created["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("tsr_test_"));
        assert!(tessera::tokens::secret::parse("tsr", &token).is_some(), "checksum validates");
        assert_eq!(created["prefix"], json!(&token[..12]));
        assert_eq!(created["last4"], json!(&token[token.len() - 4..]));
        assert_eq!(created["status"], "active");
        assert_eq!(created["env"], "test");
        assert_eq!(created["allow_ips"], json!(["10.0.0.0/8", "2001:db8::/32"]));
        assert_eq!(created["inactive_after"], "30d", "a configured duration is answered as given");
        assert!(created["expires_at"].as_str().is_some());
        let id = created["id"].as_str().unwrap().to_string();
        for args in [
            vec!["--json", "integration", "list", "--org", "acme"],
            vec!["integration", "list", "--org", "acme"],
            vec!["--json", "integration", "show", &id],
            vec!["--json", "audit", "list", "--org", "acme"],
        ] {
            let out = w.db.cli(&args);
            assert_eq!(out.code(), 0, "{}", out.stderr());
            assert!(!out.stdout().contains(&token[12..]), "{args:?} shows the token");
        }
        let shown = w.db.cli(&["--json", "integration", "show", &id]).json();
        for key in ["id", "name", "description", "env", "scopes", "prefix", "last4", "created_at", "expires_at", "last_used_at", "last_used_ip", "use_count", "status"] {
            assert!(shown.get(key).is_some(), "{key} in {shown}");
        }
        assert!(shown.get("token").is_none());
        assert_plaintext_not_stored(&w.db, &token);
        assert!(active(&w, &token));
        let introspected = w.introspect(&token);
        assert_eq!((introspected["token_type"].as_str(), introspected["token_kind"].as_str()),
            (Some("Bearer"), Some("integration_token")));
        assert_eq!(introspected["integration_id"], json!(id));
        assert_eq!(introspected["org"], "acme");
    }

    fn cli_rotates_expires_revokes_and_renames(db: TestDb) {
        // The CLI is another process: the server sees its changes within the check cache's
        // lifetime (tested in `check`). Without the cache, they are visible at once.
        let w = World::with_config(db, &[("TESSERA_CHECK_CACHE_TTL", "0s")]);
        let created = w.db.cli(&["--json", "integration", "create", "--org", "acme", "--name", "Sync", "--scope", "claims:read"]).json();
        let id = created["id"].as_str().unwrap().to_string();
        let t1 = created["token"].as_str().unwrap().to_string();
        // Rotate now: the old token stops at once.
        let r = w.db.cli(&["--json", "integration", "rotate", &id]).json();
        let t2 = r["token"].as_str().unwrap().to_string();
        assert_ne!(t1, t2);
        assert!(!active(&w, &t1) && active(&w, &t2));
        // Rotate with grace: both work until the grace ends.
        let r = w.db.cli(&["--json", "integration", "rotate", &id, "--grace", "1h"]).json();
        let t3 = r["token"].as_str().unwrap().to_string();
        assert!(active(&w, &t2) && active(&w, &t3));
        assert_eq!(r["tokens"].as_array().unwrap().len(), 2, "current and previous are listed: {r}");
        // … and when it has ended, the old one stops.
        let mut conn = w.db.conn();
        let prefix2 = &t2[..12];
        diesel::sql_query(format!("UPDATE integration_tokens SET expires_at = '{}' WHERE prefix = '{prefix2}'", past(1)))
            .execute(&mut *conn).unwrap();
        drop(conn);
        assert!(!active(&w, &t2) && active(&w, &t3));
        // Rename.
        let renamed = w.db.cli(&["--json", "integration", "rename", &id, "--name", "Sync v2", "--description", "hourly"]).json();
        assert_eq!((renamed["name"].as_str(), renamed["description"].as_str()), (Some("Sync v2"), Some("hourly")));
        // Expire later, then now.
        let later = w.db.cli(&["--json", "integration", "expire", &id, "--in", "7d"]).json();
        assert_eq!((later["status"].as_str(), later["kept_earlier_expiry"].as_bool()), (Some("active"), Some(false)));
        assert!(active(&w, &t3));
        // Expiring later never extends a life: a year from now keeps the 7-day deadline and
        // says so.
        let not_extended = w.db.cli(&["--json", "integration", "expire", &id, "--in", "365d"]).json();
        assert_eq!(not_extended["kept_earlier_expiry"], true, "{not_extended}");
        assert_eq!(not_extended["expires_at"], later["expires_at"]);
        let sooner = w.db.cli(&["--json", "integration", "expire", &id, "--in", "1d"]).json();
        assert_eq!(sooner["kept_earlier_expiry"], false);
        assert_ne!(sooner["expires_at"], later["expires_at"]);
        let text = w.db.cli(&["integration", "expire", &id, "--in", "30d"]).stdout();
        assert!(text.contains("expiring never extends"), "{text}");
        let now = w.db.cli(&["--json", "integration", "expire", &id]).json();
        assert_eq!(now["status"], "expired");
        assert!(!active(&w, &t3));
        // Revoke: at once and for good; rotating a revoked integration is refused.
        let created = w.db.cli(&["--json", "integration", "create", "--org", "acme", "--name", "Other", "--scope", "claims:read"]).json();
        let other = created["id"].as_str().unwrap();
        let ot = created["token"].as_str().unwrap();
        let revoked = w.db.cli(&["--json", "integration", "revoke", other]).json();
        assert_eq!(revoked["status"], "revoked");
        assert!(!active(&w, ot));
        w.db.cli(&["integration", "rotate", other]).assert_input_error("revoked");
        let actions: Vec<String> = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json()["events"].clone().as_array().unwrap()
            .iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
        for a in ["integration.create", "integration.rotate", "integration.update", "integration.expire", "integration.revoke"] {
            assert!(actions.contains(&a.to_string()), "{a} in {actions:?}");
        }
    }

    fn cli_refuses_bad_input_and_scopes_above_the_creators_role(db: TestDb) {
        let w = World::new(db);
        let base = ["integration", "create", "--org", "acme", "--name", "X"];
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--scope", "claims:nope"], "unknown scope \"claims:nope\""),
            (vec!["--scope", "integrations:manage", "--created-by", "mona"], "integrations:manage"),
            (vec!["--scope", "claims:read", "--env", "prod"], "live or test"),
            (vec!["--scope", "claims:read", "--allow-ip", "10.0.0.0/40"], "allow_ips"),
            (vec!["--scope", "claims:read", "--expires-in", "soon"], "duration"),
            (vec!["--scope", "claims:read", "--created-by", "gina"], "not a member"),
            (vec!["--scope", ""], "at least one scope"),
        ];
        for (extra, needle) in cases {
            let args: Vec<&str> = base.iter().copied().chain(extra).collect();
            w.db.cli(&args).assert_input_error(needle);
        }
        w.db.cli(&["integration", "create", "--org", "acme", "--name", &"n".repeat(101), "--scope", "claims:read"]).assert_input_error("name");
        w.db.cli(&["integration", "rotate", "int_nope"]).assert_input_error("not found");
        let list = w.db.cli(&["--json", "integration", "list", "--org", "acme"]).json();
        assert_eq!(list, json!({"integrations": []}), "nothing was created");
    }

    fn http_api_manages_integrations_with_a_scoped_admin_token(db: TestDb) {
        let w = World::new(db);
        let bearer = w.management_token("ada", "integrations:manage audit:read");
        let (status, created) = api(&w, "POST", "/v1/orgs/acme/integrations", Some(&bearer), Some(json!({
            "name": "Warehouse", "description": "WMS push", "env": "live", "scopes": ["claims:read"],
            "expires_in": "1d", "allow_ips": ["192.0.2.0/24"], "inactive_after": "30d"
        })));
        assert_eq!(status, 201, "{created}");
        let token = created["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("tsr_live_"));
        let id = created["id"].as_str().unwrap().to_string();
        let (status, list) = api(&w, "GET", "/v1/orgs/acme/integrations", Some(&bearer), None);
        assert_eq!(status, 200);
        assert_eq!(list["integrations"].as_array().unwrap().len(), 1);
        assert!(!list.to_string().contains(&token[12..]), "never listed");
        let path = format!("/v1/orgs/acme/integrations/{id}");
        let (status, shown) = api(&w, "GET", &path, Some(&bearer), None);
        assert_eq!((status, shown["name"].as_str()), (200, Some("Warehouse")));
        let (status, patched) = api(&w, "PATCH", &path, Some(&bearer), Some(json!({"name": "Warehouse EU", "description": "moved"})));
        assert_eq!((status, patched["name"].as_str()), (200, Some("Warehouse EU")));
        let (status, rotated) = api(&w, "POST", &format!("{path}/rotate"), Some(&bearer), Some(json!({"grace": "1h"})));
        assert_eq!(status, 200, "{rotated}");
        let token2 = rotated["token"].as_str().unwrap().to_string();
        assert!(active(&w, &token) && active(&w, &token2));
        let (status, rotated) = api(&w, "POST", &format!("{path}/rotate"), Some(&bearer), None);
        assert_eq!(status, 200);
        let token3 = rotated["token"].as_str().unwrap().to_string();
        assert!(!active(&w, &token) && !active(&w, &token2) && active(&w, &token3));
        let (status, expired) = api(&w, "POST", &format!("{path}/expire"), Some(&bearer), Some(json!({"in": "10m"})));
        assert_eq!((status, expired["status"].as_str()), (200, Some("active")));
        let (status, expired) = api(&w, "POST", &format!("{path}/expire"), Some(&bearer), None);
        assert_eq!((status, expired["status"].as_str()), (200, Some("expired")));
        assert!(!active(&w, &token3));
        let (status, revoked) = api(&w, "POST", &format!("{path}/revoke"), Some(&bearer), None);
        assert_eq!((status, revoked["status"].as_str()), (200, Some("revoked")));
        let (status, conflict) = api(&w, "POST", &format!("{path}/rotate"), Some(&bearer), None);
        assert_eq!((status, conflict["error"]["code"].as_str()), (409, Some("conflict")));
        // The audit trail, with the acting user and source address.
        let (status, audit) = api(&w, "GET", "/v1/orgs/acme/audit?limit=50", Some(&bearer), None);
        assert_eq!(status, 200);
        let events = audit["events"].as_array().unwrap();
        let mine: Vec<&Value> = events.iter().filter(|e| e["target"] == json!(id)).collect();
        let actions: Vec<&str> = mine.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["integration.revoke", "integration.expire", "integration.expire", "integration.rotate", "integration.rotate", "integration.update", "integration.create"]);
        assert!(mine.iter().all(|e| e["actor"] == "user:ada" && e["ip"] == "127.0.0.1"), "{mine:?}");
        assert!(!audit.to_string().contains(&token[12..]));
    }

    fn http_api_refuses_what_it_must(db: TestDb) {
        let w = World::new(db);
        let bearer = w.management_token("ada", "integrations:manage");
        // No token: 401 with a plain Bearer challenge; a bad one: invalid_token.
        let res = w.app().get(w.server.url("/v1/orgs/acme/integrations")).send().unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()[WWW_AUTHENTICATE], "Bearer realm=\"tessera\"");
        let body: Value = res.json().unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, body) = api(&w, "GET", "/v1/orgs/acme/integrations", Some("not-a-token"), None);
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
        // A token without the scope: 403 forbidden_scope.
        let weak = w.management_token("ada", "claims:read");
        let res = w.app().get(w.server.url("/v1/orgs/acme/integrations")).header(AUTHORIZATION, format!("Bearer {weak}")).send().unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("insufficient_scope"));
        let body: Value = res.json().unwrap();
        assert_eq!(body["error"]["code"], "forbidden_scope");
        assert_eq!(body["error"]["required_scope"], "integrations:manage");
        // audit:read is a separate scope.
        let (status, body) = api(&w, "GET", "/v1/orgs/acme/audit", Some(&bearer), None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden_scope")));
        // Bad input: 400 for unreadable JSON, 422 for invalid values — never 500.
        let res = w.app().post(w.server.url("/v1/orgs/acme/integrations")).header(AUTHORIZATION, format!("Bearer {bearer}"))
            .header("content-type", "application/json").body("{not json").send().unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().unwrap()["error"]["code"], "invalid_request");
        for (body, needle) in [
            (json!({"name": "", "scopes": ["claims:read"]}), "name"),
            (json!({"name": "x", "scopes": ["claims:nope"]}), "claims:nope"),
            (json!({"name": "x", "scopes": ["claims:read"], "allow_ips": ["300.1.1.1"]}), "allow_ips"),
            (json!({"name": "x", "scopes": ["claims:read"], "env": "prod"}), "env"),
            (json!({"name": "x", "scopes": ["claims:read"], "expires_in": -5}), "expires_in"),
            (json!({"name": "x", "scopes": []}), "scope"),
        ] {
            let (status, res) = api(&w, "POST", "/v1/orgs/acme/integrations", Some(&bearer), Some(body.clone()));
            assert_eq!(status, 422, "{body} -> {res}");
            assert!(res["error"]["message"].as_str().unwrap().contains(needle), "{res}");
        }
        let (status, res) = api(&w, "POST", "/v1/orgs/acme/integrations", Some(&bearer), Some(json!({"name": "x", "scopes": ["claims:read"], "colour": "red"})));
        assert_eq!((status, res["error"]["code"].as_str()), (400, Some("invalid_request")));
        // Scopes above the creating user's role: 422 naming the scope.
        w.db.cli(&["scope", "create", "billing:admin", "--min-role", "owner"]);
        let (status, res) = api(&w, "POST", "/v1/orgs/acme/integrations", Some(&bearer), Some(json!({"name": "x", "scopes": ["billing:admin"]})));
        assert_eq!(status, 422);
        assert!(res["error"]["message"].as_str().unwrap().contains("billing:admin"));
        // Unknown integration and unknown route: 404 in the envelope.
        let (status, res) = api(&w, "GET", "/v1/orgs/acme/integrations/int_nope", Some(&bearer), None);
        assert_eq!((status, res["error"]["code"].as_str()), (404, Some("not_found")));
        let (status, res) = api(&w, "GET", "/v1/nowhere", None, None);
        assert_eq!((status, res["error"]["code"].as_str()), (404, Some("not_found")));
    }

    fn other_organizations_integrations_do_not_exist_for_a_token(db: TestDb) {
        let w = World::new(db);
        let acme = w.management_token("ada", "integrations:manage");
        let (_, created) = api(&w, "POST", "/v1/orgs/acme/integrations", Some(&acme), Some(json!({"name": "A", "scopes": ["claims:read"]})));
        let acme_id = created["id"].as_str().unwrap().to_string();
        // gina owns globex; her token is bound to globex.
        w.db.cli(&["--json", "client", "create", "--org", "globex", "--name", "G", "--redirect-uri", crate::oauth_support::REDIRECT, "--scope", "integrations:manage"]).json();
        let globex = w.management_token("gina", "integrations:manage");
        let (status, _) = api(&w, "GET", "/v1/orgs/acme/integrations", Some(&globex), None);
        assert_eq!(status, 404);
        for (method, suffix) in [("GET", ""), ("POST", "/rotate"), ("POST", "/revoke"), ("POST", "/expire")] {
            let (status, body) = api(&w, method, &format!("/v1/orgs/globex/integrations/{acme_id}{suffix}"), Some(&globex), None);
            assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{method} {suffix}");
        }
        let (status, list) = api(&w, "GET", "/v1/orgs/globex/integrations", Some(&globex), None);
        assert_eq!((status, list["integrations"].clone()), (200, json!([])));
        // acme's integration is untouched.
        assert_eq!(w.db.cli(&["--json", "integration", "show", &acme_id]).json()["status"], "active");
    }

    fn the_role_is_checked_at_every_call(db: TestDb) {
        let w = World::new(db);
        let bearer = w.management_token("ada", "integrations:manage");
        let (status, _) = api(&w, "GET", "/v1/orgs/acme/integrations", Some(&bearer), None);
        assert_eq!(status, 200);
        // ada is demoted after her token was issued: the same token no longer manages.
        let mut conn = w.db.conn();
        diesel::sql_query("UPDATE memberships SET role = 'manager' WHERE user_id = (SELECT id FROM users WHERE username = 'ada')")
            .execute(&mut *conn).unwrap();
        drop(conn);
        let (status, body) = api(&w, "GET", "/v1/orgs/acme/integrations", Some(&bearer), None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    }

    fn inactive_tokens_stop_working_and_usage_is_recorded(db: TestDb) {
        let w = World::new(db);
        let created = w.db.cli(&["--json", "integration", "create", "--org", "acme", "--name", "Idle", "--scope", "claims:read", "--inactive-after", "1d"]).json();
        let id = created["id"].as_str().unwrap().to_string();
        let token = created["token"].as_str().unwrap().to_string();
        assert!(active(&w, &token));
        assert!(active(&w, &token));
        // Usage is written off the request path; stopping the server writes what is pending.
        let w = w.restart(&[]);
        let shown = w.db.cli(&["--json", "integration", "show", &id]).json();
        assert_eq!(shown["use_count"], 2, "{shown}");
        assert!(shown["last_used_at"].as_str().is_some());
        // Two days without use: the token stops working and shows as expired.
        age_tokens(&w.db, &id, &format!("created_at = '{0}', last_used_at = '{0}'", past(2 * 86400)));
        assert!(!active(&w, &token));
        assert_eq!(w.db.cli(&["--json", "integration", "show", &id]).json()["status"], "expired");
    }
}
