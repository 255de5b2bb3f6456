//! OAuth clients through the HTTP management API and the CLI, in one vocabulary (durations as
//! strings, scopes as arrays, the same field names on both sides), on both backends; and the
//! management API driven by an integration token.

use std::collections::BTreeSet;

use diesel::prelude::*;
use reqwest::blocking::Client as Http;
use reqwest::header::{CACHE_CONTROL, LOCATION};
use serde_json::{Value, json};

use crate::oauth_support::{REDIRECT, World};
use crate::on_both_backends;
use crate::support::{ServerProcess, TestDb};
use crate::webhooks::LOCAL_RECEIVERS;

/// The console client's scopes plus `clients:manage`: set through the very `client update`
/// under test, which running servers must pick up at once.
fn allow_clients_manage(w: &World) {
    let (console, _) = &w.console;
    let updated =
        w.db.cli(&[
            "--json",
            "client",
            "update",
            console,
            "--scope",
            "integrations:manage webhooks:manage audit:read claims:read",
            "--scope",
            "clients:manage",
        ])
        .json();
    assert_eq!(
        updated["scopes"],
        json!([
            "integrations:manage",
            "webhooks:manage",
            "audit:read",
            "claims:read",
            "clients:manage"
        ])
    );
}

/// A management API caller for org `acme` (or another base URL).
struct Api {
    base: String,
    bearer: String,
}

impl Api {
    fn new(w: &World, user: &str, scope: &str) -> Api {
        Api {
            base: w.server.base.clone(),
            bearer: w.management_token(user, scope),
        }
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::blocking::Response {
        let req = Http::new()
            .request(
                method.parse().unwrap(),
                format!("{}/v1/orgs{path}", self.base),
            )
            .bearer_auth(&self.bearer);
        match body {
            Some(b) => req.json(&b),
            None => req,
        }
        .send()
        .unwrap()
    }

    /// `path` after `/v1/orgs`; answers status and JSON body.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let res = self.raw(method, path, body);
        let status = res.status().as_u16();
        let text = res.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn new_client_body(name: &str) -> Value {
    json!({
        "name": name, "redirect_uris": [REDIRECT], "type": "confidential",
        "scopes": ["claims:read"], "refresh_grace": "30s",
    })
}

/// Whether `secret` authenticates client `id` (at the introspection endpoint).
fn authenticates(w: &World, id: &str, secret: &str) -> bool {
    let res = Http::new()
        .post(w.server.url("/oauth/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "nothing")])
        .send()
        .unwrap();
    match res.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("introspect answered {other}: {}", res.text().unwrap()),
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

on_both_backends! {
    fn every_client_operation_works_over_http_and_the_cli_alike(db: TestDb) {
        let w = World::new(db);
        allow_clients_manage(&w);
        let api = Api::new(&w, "ada", "clients:manage audit:read");
        // Create: 201, Location, no-store, the secret once.
        let res = api.raw("POST", "/acme/clients", Some(new_client_body("Warehouse")));
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
        let location = res.headers()[LOCATION].to_str().unwrap().to_string();
        let created: Value = res.json().unwrap();
        let id = created["client_id"].as_str().unwrap().to_string();
        let secret = created["client_secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("tsr_cs_"));
        assert_eq!(location, format!("/v1/orgs/acme/clients/{id}"));
        assert_eq!((created["type"].as_str(), created["refresh_grace"].as_str()), (Some("confidential"), Some("30s")));
        assert_eq!(created["scopes"], json!(["claims:read"]));
        assert_eq!(created["grant_types"], json!(["authorization_code", "refresh_token"]));
        assert!(authenticates(&w, &id, &secret));
        // List and show: never a secret; the CLI prints the very same shapes.
        let (status, list) = api.send("GET", "/acme/clients", None);
        assert_eq!(status, 200);
        assert!(list["clients"].as_array().unwrap().iter().any(|c| c["client_id"] == json!(id)));
        let (status, shown) = api.send("GET", &format!("/acme/clients/{id}"), None);
        assert_eq!(status, 200);
        assert!(shown.get("client_secret").is_none());
        let cli_shown = w.db.cli(&["--json", "client", "show", &id]).json();
        assert_eq!(cli_shown, shown, "the CLI's --json is the HTTP answer");
        let cli_list = w.db.cli(&["--json", "client", "list", "--org", "acme"]).json();
        assert_eq!(cli_list, list);
        let mut created_view = created.clone();
        created_view.as_object_mut().unwrap().remove("client_secret");
        assert_eq!(created_view, shown);
        // Update over HTTP, then over the CLI (scopes repeatable and space-separated).
        let (status, patched) = api.send("PATCH", &format!("/acme/clients/{id}"), Some(json!({
            "name": "Warehouse EU", "redirect_uris": [REDIRECT, "https://wms.example.com/cb"],
            "scopes": ["claims:read", "claims:write"], "cors_origins": ["https://wms.example.com"],
        })));
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["name"], "Warehouse EU");
        assert_eq!(patched["redirect_uris"], json!([REDIRECT, "https://wms.example.com/cb"]));
        assert_eq!(patched["scopes"], json!(["claims:read", "claims:write"]));
        assert_eq!(patched["cors_origins"], json!(["https://wms.example.com"]));
        let updated = w.db.cli(&["--json", "client", "update", &id, "--name", "Warehouse", "--scope", "claims:read"]).json();
        assert_eq!((updated["name"].as_str(), updated["scopes"].clone()), (Some("Warehouse"), json!(["claims:read"])));
        assert_eq!(updated["redirect_uris"], patched["redirect_uris"], "lists not given are kept");
        let (_, shown) = api.send("GET", &format!("/acme/clients/{id}"), None);
        assert_eq!(shown, updated);
        // Bad updates: 422 naming the field; unknown fields 400.
        for (body, needle) in [
            (json!({"redirect_uris": ["http://wms.example.com/cb"]}), "https"),
            (json!({"redirect_uris": []}), "redirect"),
            (json!({"scopes": ["claims:nope"]}), "claims:nope"),
            (json!({"scopes": ["claims:read claims:write"]}), "scope"),
            (json!({"name": ""}), "name"),
        ] {
            let (status, res) = api.send("PATCH", &format!("/acme/clients/{id}"), Some(body.clone()));
            assert_eq!(status, 422, "{body} -> {res}");
            assert!(res["error"]["message"].as_str().unwrap().contains(needle), "{res}");
        }
        let (status, _) = api.send("PATCH", &format!("/acme/clients/{id}"), Some(json!({"type": "public"})));
        assert_eq!(status, 400);
        // Rotate over HTTP (no-store, the new secret once) and over the CLI.
        let res = api.raw("POST", &format!("/acme/clients/{id}/rotate-secret"), Some(json!({"grace": "1h"})));
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
        let rotated: Value = res.json().unwrap();
        let secret2 = rotated["client_secret"].as_str().unwrap().to_string();
        assert!(rotated["previous_expires_at"].is_string());
        assert!(authenticates(&w, &id, &secret) && authenticates(&w, &id, &secret2));
        let rotated = w.db.cli(&["--json", "client", "rotate-secret", &id]).json();
        let secret3 = rotated["client_secret"].as_str().unwrap().to_string();
        assert!(!authenticates(&w, &id, &secret2) && authenticates(&w, &id, &secret3));
        assert!(!authenticates(&w, &id, &secret), "a rotation without grace ends every earlier secret");
        w.db.cli(&["client", "rotate-secret", &id, "--grace", "8d"]).assert_input_error("7d");
        // Secrets only in those answers: not in listings, shows or the audit trail.
        let (_, audit) = api.send("GET", "/acme/audit?limit=100", None);
        let cli_audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).stdout();
        for text in [
            api.send("GET", "/acme/clients", None).1.to_string(),
            api.send("GET", &format!("/acme/clients/{id}"), None).1.to_string(),
            w.db.cli(&["client", "list", "--org", "acme"]).stdout(),
            w.db.cli(&["client", "show", &id]).stdout(),
            audit.to_string(),
            cli_audit,
        ] {
            for s in [&secret, &secret2, &secret3] {
                assert!(!text.contains(&s[7..]), "a secret in {text}");
            }
        }
        let actions: Vec<&str> = audit["events"].as_array().unwrap().iter()
            .filter(|e| e["target"] == json!(id)).map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["client.rotate_secret", "client.rotate_secret", "client.update", "client.update", "client.create"]);
        // Delete: answers what was revoked; then it is gone for both.
        let (status, deleted) = api.send("DELETE", &format!("/acme/clients/{id}"), None);
        assert_eq!(status, 200, "{deleted}");
        assert_eq!(deleted, json!({"client_id": id, "grants_revoked": 0}));
        assert!(!authenticates(&w, &id, &secret3));
        let (status, body) = api.send("GET", &format!("/acme/clients/{id}"), None);
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
        w.db.cli(&["client", "show", &id]).assert_input_error("not found");
        // A public client: no secret, nothing to rotate.
        let mut body = new_client_body("SPA");
        body["type"] = json!("public");
        let (status, public) = api.send("POST", "/acme/clients", Some(body));
        assert_eq!((status, public["client_secret"].clone(), public["type"].as_str()), (201, Value::Null, Some("public")));
        let pid = public["client_id"].as_str().unwrap();
        let (status, _) = api.send("POST", &format!("/acme/clients/{pid}/rotate-secret"), None);
        assert_eq!(status, 422);
        w.db.cli(&["--json", "client", "delete", pid]).json();
    }

    fn only_admins_manage_clients_and_only_their_organizations(db: TestDb) {
        let w = World::new(db);
        allow_clients_manage(&w);
        // mona is a manager: the scope is withheld from her token, and the call refused.
        let mona = Api::new(&w, "mona", "clients:manage claims:read");
        let (status, body) = mona.send("GET", "/acme/clients", None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden_scope")), "{body}");
        let (status, _) = mona.send("POST", "/acme/clients", Some(new_client_body("M")));
        assert_eq!(status, 403);
        let ada = Api::new(&w, "ada", "clients:manage");
        let (status, _) = ada.send("GET", "/acme/clients", None);
        assert_eq!(status, 200);
        // Demoted after the token was issued: refused at the next call.
        let mut conn = w.db.conn();
        diesel::sql_query("UPDATE memberships SET role = 'manager' WHERE user_id = (SELECT id FROM users WHERE username = 'ada')")
            .execute(&mut *conn).unwrap();
        drop(conn);
        let (status, body) = ada.send("GET", "/acme/clients", None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
        // gina owns globex: acme's clients do not exist for her, even by id.
        w.db.cli(&["--json", "client", "create", "--org", "globex", "--name", "G", "--redirect-uri", REDIRECT, "--scope", "clients:manage"]).json();
        let gina = Api::new(&w, "gina", "clients:manage");
        let acme_client = w.client_id.clone();
        for (method, suffix, body) in [
            ("GET", "", None),
            ("PATCH", "", Some(json!({"name": "mine now"}))),
            ("DELETE", "", None),
            ("POST", "/rotate-secret", None),
        ] {
            let (status, res) = gina.send(method, &format!("/globex/clients/{acme_client}{suffix}"), body);
            assert_eq!((status, res["error"]["code"].as_str()), (404, Some("not_found")), "{method} {suffix}");
        }
        let (status, _) = gina.send("GET", "/acme/clients", None);
        assert_eq!(status, 404);
        let (_, list) = gina.send("GET", "/globex/clients", None);
        assert!(!list.to_string().contains(&acme_client));
        assert!(authenticates(&w, &acme_client, &w.client_secret), "acme's client untouched");
    }

    fn the_old_secret_works_during_its_grace_and_then_not(db: TestDb) {
        let w = World::new(db);
        allow_clients_manage(&w);
        let api = Api::new(&w, "ada", "clients:manage");
        let (_, created) = api.send("POST", "/acme/clients", Some(new_client_body("Graced")));
        let id = created["client_id"].as_str().unwrap().to_string();
        let old = created["client_secret"].as_str().unwrap().to_string();
        let (status, rotated) = api.send("POST", &format!("/acme/clients/{id}/rotate-secret"), Some(json!({"grace": "2s"})));
        assert_eq!(status, 200, "{rotated}");
        let new = rotated["client_secret"].as_str().unwrap().to_string();
        assert!(authenticates(&w, &id, &old) && authenticates(&w, &id, &new));
        std::thread::sleep(std::time::Duration::from_millis(2500));
        assert!(!authenticates(&w, &id, &old), "the grace is over");
        assert!(authenticates(&w, &id, &new));
    }

    fn deleting_a_client_revokes_its_grants(db: TestDb) {
        let w = World::new(db);
        allow_clients_manage(&w);
        let api = Api::new(&w, "ada", "clients:manage");
        let (_, created) = api.send("POST", "/acme/clients", Some(new_client_body("Doomed")));
        let id = created["client_id"].as_str().unwrap().to_string();
        let secret = created["client_secret"].as_str().unwrap().to_string();
        let tokens = w.tokens_for_client(&w.browser(), "alice", "claims:read", &id, &secret);
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        let access = tokens["access_token"].as_str().unwrap().to_string();
        assert_eq!(w.introspect(&access)["active"], true);
        let (status, deleted) = api.send("DELETE", &format!("/acme/clients/{id}"), None);
        assert_eq!(status, 200);
        assert_eq!(deleted["grants_revoked"], 1, "{deleted}");
        assert_eq!(w.introspect(&access)["active"], false);
        assert_eq!(w.introspect(&refresh)["active"], false);
        let res = Http::new()
            .post(w.server.url("/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .send()
            .unwrap();
        assert_ne!(res.status(), 200, "{}", res.text().unwrap());
    }

    fn durations_are_strings_and_scopes_arrays_everywhere(db: TestDb) {
        let w = World::with_config(db, &LOCAL_RECEIVERS);
        allow_clients_manage(&w);
        let api = Api::new(&w, "ada", "clients:manage integrations:manage webhooks:manage");
        let (status, integration) = api.send("POST", "/acme/integrations", Some(json!({
            "name": "Vocabulary", "scopes": ["claims:read"], "expires_in": "90d", "inactive_after": "30d",
        })));
        assert_eq!(status, 201, "{integration}");
        assert_eq!(integration["inactive_after"], "30d");
        let iid = integration["id"].as_str().unwrap().to_string();
        let (_, created) = api.send("POST", "/acme/clients", Some(new_client_body("Vocabulary")));
        let cid = created["client_id"].as_str().unwrap().to_string();
        let (status, hook) = api.send("POST", "/acme/webhooks", Some(json!({
            "url": "http://127.0.0.1:9/hook", "events": ["integration.revoked", "client.deleted"],
        })));
        assert_eq!(status, 201, "{hook}");
        assert_eq!(hook["events"], json!(["integration.revoked", "client.deleted"]));
        let hid = hook["id"].as_str().unwrap().to_string();
        // "24h" is a duration; 86400 is refused naming the field, and so is anything not text.
        let (status, body) = api.send("POST", &format!("/acme/integrations/{iid}/rotate"), Some(json!({"grace": "24h"})));
        assert_eq!(status, 200, "{body}");
        for (path, body, field) in [
            (format!("/acme/integrations/{iid}/rotate"), json!({"grace": 86400}), "grace"),
            (format!("/acme/integrations/{iid}/expire"), json!({"in": 600}), "in"),
            ("/acme/integrations".to_string(), json!({"name": "x", "scopes": ["claims:read"], "expires_in": 86400}), "expires_in"),
            ("/acme/integrations".to_string(), json!({"name": "x", "scopes": ["claims:read"], "inactive_after": true}), "inactive_after"),
            (format!("/acme/clients/{cid}/rotate-secret"), json!({"grace": 3600}), "grace"),
            ("/acme/clients".to_string(), json!({"name": "x", "redirect_uris": [REDIRECT], "type": "public", "scopes": ["claims:read"], "refresh_grace": 30}), "refresh_grace"),
            (format!("/acme/webhooks/{hid}/rotate-secret"), json!({"grace": 3600}), "grace"),
        ] {
            let (status, res) = api.send("POST", &path, Some(body.clone()));
            assert_eq!(status, 422, "{path} {body} -> {res}");
            let message = res["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(&format!("{field}: ")) && message.contains("\"24h\""), "{res}");
        }
        // A grace over seven days: 422 for clients and webhooks alike; the old names are gone.
        for path in [format!("/acme/clients/{cid}/rotate-secret"), format!("/acme/webhooks/{hid}/rotate-secret")] {
            let (status, res) = api.send("POST", &path, Some(json!({"grace": "8d"})));
            assert_eq!(status, 422, "{path} -> {res}");
            assert!(res["error"]["message"].as_str().unwrap().contains("7d"), "{res}");
        }
        for (path, body) in [
            (format!("/acme/integrations/{iid}/rotate"), json!({"grace_seconds": 60})),
            (format!("/acme/integrations/{iid}/expire"), json!({"in_seconds": 60})),
        ] {
            let (status, _) = api.send("POST", &path, Some(body));
            assert_eq!(status, 400, "an old field name is an unknown field");
        }
        // Scopes and events as arrays only.
        let (status, _) = api.send("POST", "/acme/clients", Some(json!({
            "name": "x", "redirect_uris": [REDIRECT], "type": "public", "scopes": "claims:read",
        })));
        assert_eq!(status, 400);
        let (status, _) = api.send("PATCH", &format!("/acme/webhooks/{hid}"), Some(json!({"events": "integration.revoked"})));
        assert_eq!(status, 400);
        // The empty expire body: now.
        let (status, expired) = api.send("POST", &format!("/acme/integrations/{iid}/expire"), None);
        assert_eq!((status, expired["status"].as_str()), (200, Some("expired")), "{expired}");
        // The CLI edits the allowlist as PATCH does.
        let updated = w.db.cli(&["--json", "integration", "update", &iid, "--allow-ip", "10.0.0.0/8", "--allow-ip", "192.0.2.0/24"]).json();
        assert_eq!(updated["allow_ips"], json!(["10.0.0.0/8", "192.0.2.0/24"]));
        let (_, shown) = api.send("GET", &format!("/acme/integrations/{iid}"), None);
        assert_eq!(shown["allow_ips"], updated["allow_ips"]);
        let updated = w.db.cli(&["--json", "integration", "update", &iid, "--allow-anywhere"]).json();
        assert_eq!(updated["allow_ips"], json!([]));
        // HTTP answers and the CLI's --json carry the same fields.
        for (http_path, cli) in [
            (format!("/acme/integrations/{iid}"), vec!["--json", "integration", "show", iid.as_str()]),
            (format!("/acme/clients/{cid}"), vec!["--json", "client", "show", cid.as_str()]),
            (format!("/acme/webhooks/{hid}"), vec!["--json", "webhook", "show", hid.as_str()]),
            ("/acme/integrations".to_string(), vec!["--json", "integration", "list", "--org", "acme"]),
            ("/acme/clients".to_string(), vec!["--json", "client", "list", "--org", "acme"]),
            ("/acme/webhooks".to_string(), vec!["--json", "webhook", "list", "--org", "acme"]),
        ] {
            let (status, http) = api.send("GET", &http_path, None);
            assert_eq!(status, 200);
            let cli_answer = w.db.cli_with_env(&cli, None, &LOCAL_RECEIVERS).json();
            assert_eq!(keys(&http), keys(&cli_answer), "{http_path}");
            let first = |v: &Value| v.as_object().unwrap().values().next().and_then(|l| l.get(0)).map(keys);
            if http_path.ends_with('s') {
                assert_eq!(first(&http), first(&cli_answer), "{http_path} rows");
            }
        }
    }

    fn an_integration_token_with_the_scope_manages_integrations(db: TestDb) {
        let w = World::new(db);
        let ada = Api::new(&w, "ada", "integrations:manage");
        let token_of = |name: &str, scopes: Value, allow: Value| {
            let (status, body) = ada.send("POST", "/acme/integrations", Some(json!({
                "name": name, "scopes": scopes, "allow_ips": allow,
            })));
            assert_eq!(status, 201, "{body}");
            body["token"].as_str().unwrap().to_string()
        };
        let robot = token_of("Rotation robot", json!(["integrations:manage"]), json!(["127.0.0.0/8"]));
        let weak = token_of("Reader", json!(["claims:read"]), json!([]));
        let elsewhere = token_of("Elsewhere", json!(["integrations:manage"]), json!(["192.0.2.0/24"]));
        let (target, first) = w.create_integration("Rotated by the robot", &[]);
        let as_token = |bearer: &str| Api { base: w.server.base.clone(), bearer: bearer.to_string() };
        let path = format!("/acme/integrations/{target}/rotate");
        let (status, rotated) = as_token(&robot).send("POST", &path, Some(json!({"grace": "1h"})));
        assert_eq!(status, 200, "{rotated}");
        assert!(rotated["token"].as_str().unwrap().starts_with("tsr_live_"));
        assert_eq!(w.introspect(&first)["active"], true, "within its grace");
        let (status, body) = as_token(&weak).send("POST", &path, None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden_scope")), "{body}");
        let (status, body) = as_token(&elsewhere).send("POST", &path, None);
        assert_eq!(status, 401, "outside its allowlist: {body}");
        // The audit trail names the integration that acted.
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json();
        let rotation = audit.as_array().unwrap().iter()
            .find(|e| e["action"] == "integration.rotate" && e["target"] == json!(target)).unwrap();
        assert_ne!(rotation["actor"], "user:ada", "{rotation}");
    }
}

/// Secrets never reach the server's log: a `tessera serve` process of its own creates and
/// rotates a client while its log is read.
#[test]
fn client_secrets_never_reach_the_log() {
    let Some(db) = TestDb::postgres() else { return };
    let issuer = [("TESSERA_ISSUER", "http://tessera.test")];
    let w = World::with_config(db, &issuer);
    allow_clients_manage(&w);
    let process = ServerProcess::start(&w.db, &issuer);
    let api = Api {
        base: process.base.clone(),
        bearer: w.management_token("ada", "clients:manage"),
    };
    let (status, created) = api.send("POST", "/acme/clients", Some(new_client_body("Logged")));
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap();
    let (status, rotated) = api.send(
        "POST",
        &format!("/acme/clients/{id}/rotate-secret"),
        Some(json!({"grace": "1h"})),
    );
    assert_eq!(status, 200);
    let (status, _) = api.send(
        "POST",
        &format!("/acme/clients/{id}/rotate-secret"),
        Some(json!({"grace": "8d"})),
    );
    assert_eq!(status, 422);
    let log = process.log();
    assert!(log.contains("/clients"), "requests are logged: {log}");
    for secret in [&created["client_secret"], &rotated["client_secret"]] {
        let secret = secret.as_str().unwrap();
        assert!(!log.contains(&secret[7..]), "a secret in the log");
    }
}

/// Parallel rotations on PostgreSQL take turns: without a grace exactly one of the secrets
/// they answer works, the newest; with one, every secret works and one alone has no end.
#[test]
fn parallel_secret_rotations_leave_one_newest_secret() {
    const PARALLEL: usize = 8;
    let Some(db) = TestDb::postgres() else { return };
    let w = World::with_config(db, &[("TESSERA_CLIENT_AUTH_LIMIT", "off")]);
    allow_clients_manage(&w);
    let api = Api::new(&w, "ada", "clients:manage");
    for grace in [None, Some("1h")] {
        let (_, created) = api.send("POST", "/acme/clients", Some(new_client_body("Raced")));
        let id = created["client_id"].as_str().unwrap().to_string();
        let path = format!("/acme/clients/{id}/rotate-secret");
        let secrets: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PARALLEL)
                .map(|_| {
                    let (api, path) = (&api, &path);
                    s.spawn(move || {
                        let (status, body) =
                            api.send("POST", path, grace.map(|g| json!({"grace": g})));
                        assert_eq!(status, 200, "{body}");
                        body["client_secret"].as_str().unwrap().to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let working: Vec<&String> = secrets
            .iter()
            .filter(|s| authenticates(&w, &id, s))
            .collect();
        let mut conn = w.db.conn();
        let open_ended: i64 = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM client_secrets s JOIN clients c ON c.id = s.client_id \
             WHERE c.client_id = '{id}' AND s.expires_at IS NULL"
        ))
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n;
        assert_eq!(open_ended, 1, "one current secret");
        match grace {
            None => assert_eq!(working.len(), 1, "only the newest works"),
            Some(_) => assert_eq!(working.len(), PARALLEL, "all work within the grace"),
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
