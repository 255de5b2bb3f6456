//! Members of an organization through the HTTP API and the CLI, on both backends: who may do
//! what, the last owner, removal revoking access, a user in two organizations, and the audit
//! trail's filters.

use std::sync::{Arc, Barrier};

use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, LOCATION};
use serde_json::{Value, json};

use crate::oauth_support::{Form, PASSWORD, Pkce, REDIRECT, World, query};
use crate::on_both_backends;

/// The scopes the members' console client may ask for.
const SCOPES: &str = "members:manage integrations:manage audit:read claims:read";

/// A confidential client of acme allowed [`SCOPES`]: (client_id, secret).
fn console_client(w: &World) -> (String, String) {
    let out =
        w.db.cli(&[
            "--json",
            "client",
            "create",
            "--org",
            "acme",
            "--name",
            "Members console",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            SCOPES,
        ])
        .json();
    (
        out["client_id"].as_str().unwrap().to_string(),
        out["client_secret"].as_str().unwrap().to_string(),
    )
}

/// Signs `user` in with `password`, approves `scope` for organization `org` (the first one
/// offered when `None`), and exchanges the code: the access token.
fn sign_in(
    w: &World,
    client: &(String, String),
    user: &str,
    password: &str,
    org: Option<&str>,
    scope: &str,
) -> String {
    let browser = w.browser();
    let pkce = Pkce::new();
    let mut params = vec![
        ("scope", scope),
        ("state", "s"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // A consent remembered for another organization must not answer for this one.
    if org.is_some() {
        params.push(("prompt", "consent"));
    }
    let url = w.authorize_url(&client.0, &params);
    let mut res = browser.get(&url).send().unwrap();
    let mut back = None;
    for _ in 0..4 {
        if let Some(location) = res.headers().get(LOCATION) {
            let location = location.to_str().unwrap().to_string();
            if location.starts_with("http://") {
                back = Some(url::Url::parse(&location).unwrap());
                break;
            }
            res = browser.get(w.server.url(&location)).send().unwrap();
            continue;
        }
        let status = res.status();
        let html = res.text().unwrap();
        assert_eq!(status, 200, "unexpected page: {html}");
        let form = Form::parse(&html);
        res = if form.action == "/oauth/login" {
            form.with("username", user)
                .with("password", password)
                .submit(&browser, &w.server)
        } else {
            let form = form.with("decision", "approve");
            let form = match org {
                Some(org) => form.with("org", org),
                None => form,
            };
            form.submit(&browser, &w.server)
        };
    }
    let back = back.expect("authorization finished");
    let code = query(&back, "code").expect("code in redirect");
    let res = w
        .app()
        .post(w.server.url("/oauth/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// A management token of a World user (password [`PASSWORD`]) in their first organization.
fn token(w: &World, client: &(String, String), user: &str) -> String {
    sign_in(w, client, user, PASSWORD, None, SCOPES)
}

/// Calls the management API; returns status, JSON body and the Cache-Control header.
fn api(
    w: &World,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (u16, Value, String) {
    let http = w.app();
    let url = w.server.url(path);
    let mut req = match method {
        "GET" => http.get(&url),
        "POST" => http.post(&url),
        "PATCH" => http.patch(&url),
        "DELETE" => http.delete(&url),
        other => panic!("{other}"),
    };
    req = req.header(AUTHORIZATION, format!("Bearer {bearer}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let cache = res
        .headers()
        .get(CACHE_CONTROL)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = res.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        cache,
    )
}

/// `/v1/check` with a bearer token: the status.
fn check(w: &World, bearer: &str) -> u16 {
    w.app()
        .get(w.server.url("/v1/check"))
        .header(AUTHORIZATION, format!("Bearer {bearer}"))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// The members of `org` as the CLI lists them: username → role.
fn roles(w: &World, org: &str) -> Vec<(String, String)> {
    let list = w.db.cli(&["--json", "member", "list", "--org", org]).json();
    list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owners(w: &World, org: &str) -> usize {
    roles(w, org).iter().filter(|(_, r)| r == "owner").count()
}

/// Creates a user in `org` with the CLI and the World's password.
fn create_member(w: &World, user: &str, org: &str, role: &str) {
    w.db.cli_with_stdin(
        &[
            "--json",
            "member",
            "create",
            user,
            "--org",
            org,
            "--role",
            role,
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .json();
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

on_both_backends! {
    fn an_admin_lists_adds_creates_changes_and_removes_members_over_http(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        let ada = token(&w, &client, "ada");
        let (status, list, _) = api(&w, "GET", "/v1/orgs/acme/members", &ada, None);
        assert_eq!(status, 200, "{list}");
        let names: Vec<&str> = list["members"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["ada", "alice", "mona"]);
        let alice = &list["members"][1];
        assert_eq!((alice["role"].as_str(), alice["user_id"].is_i64(), alice["since"].is_string()), (Some("member"), true, true));
        // An existing user of another organization joins.
        let (status, added, _) = api(&w, "POST", "/v1/orgs/acme/members", &ada, Some(json!({"username": "gina", "role": "manager"})));
        assert_eq!((status, added["username"].as_str(), added["role"].as_str()), (201, Some("gina"), Some("manager")), "{added}");
        assert!(added.get("initial_password").is_none(), "{added}");
        // A new user: the initial password once, never cached.
        let (status, created, cache) = api(&w, "POST", "/v1/orgs/acme/members", &ada, Some(json!({"username": "bob", "role": "member", "create": true})));
        assert_eq!((status, created["role"].as_str()), (201, Some("member")), "{created}");
        assert_eq!(cache, "no-store");
        let password = created["initial_password"].as_str().unwrap().to_string();
        assert_eq!(password.len(), 20);
        // It signs bob in.
        let bob = sign_in(&w, &client, "bob", &password, None, "claims:read");
        assert_eq!(check(&w, &bob), 200);
        let (status, shown, _) = api(&w, "GET", "/v1/orgs/acme/members/bob", &ada, None);
        assert_eq!((status, shown["role"].as_str()), (200, Some("member")));
        assert!(shown.get("initial_password").is_none(), "never shown again: {shown}");
        let (status, changed, _) = api(&w, "PATCH", "/v1/orgs/acme/members/bob", &ada, Some(json!({"role": "admin"})));
        assert_eq!((status, changed["role"].as_str()), (200, Some("admin")), "{changed}");
        // Refusals, in the /v1 envelope.
        for (method, path, body, want, code) in [
            ("POST", "/v1/orgs/acme/members", json!({"username": "alice", "role": "member"}), 409, "conflict"),
            ("POST", "/v1/orgs/acme/members", json!({"username": "bob", "role": "member", "create": true}), 409, "conflict"),
            ("POST", "/v1/orgs/acme/members", json!({"username": "nobody", "role": "member"}), 404, "not_found"),
            ("POST", "/v1/orgs/acme/members", json!({"username": "carl", "role": "root", "create": true}), 422, "invalid_request"),
            ("POST", "/v1/orgs/acme/members", json!({"username": "Bad Name!", "role": "member", "create": true}), 422, "invalid_request"),
            ("PATCH", "/v1/orgs/acme/members/bob", json!({"role": "root"}), 422, "invalid_request"),
            ("PATCH", "/v1/orgs/acme/members/nobody", json!({"role": "member"}), 404, "not_found"),
            ("DELETE", "/v1/orgs/acme/members/nobody", Value::Null, 404, "not_found"),
        ] {
            let body = (!body.is_null()).then_some(body);
            let (status, answer, _) = api(&w, method, path, &ada, body);
            assert_eq!((status, error_code(&answer)), (want, code), "{method} {path}: {answer}");
        }
        let (status, removed, _) = api(&w, "DELETE", "/v1/orgs/acme/members/bob", &ada, None);
        assert_eq!((status, removed["username"].as_str(), removed["role"].as_str()), (200, Some("bob"), Some("admin")), "{removed}");
        assert_eq!(removed["grants_revoked"], 1, "bob's token: {removed}");
        assert_eq!(check(&w, &bob), 401, "bob's access token died with his membership");
        let (status, _, _) = api(&w, "GET", "/v1/orgs/acme/members/bob", &ada, None);
        assert_eq!(status, 404);
        // The audit trail of bob, newest first; never the password.
        let (status, audit, _) = api(&w, "GET", "/v1/orgs/acme/audit?target=bob", &ada, None);
        assert_eq!(status, 200);
        let actions: Vec<&str> = audit["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["member.removed", "member.role_changed", "member.created"]);
        assert_eq!(audit["events"][1]["detail"], "from=member to=admin");
        assert!(audit["events"].as_array().unwrap().iter().all(|e| e["actor"] == "user:ada"));
        let everything = w.db.cli(&["--json", "audit", "list", "--org", "acme", "--limit", "1000"]).stdout();
        assert!(!everything.contains(&password), "the password is never audited");
    }

    fn the_cli_manages_members_with_the_http_answers(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        let ada = token(&w, &client, "ada");
        let cli = w.db.cli(&["--json", "member", "list", "--org", "acme"]).json();
        let (_, http, _) = api(&w, "GET", "/v1/orgs/acme/members", &ada, None);
        assert_eq!(cli, http, "one shape");
        // Created with a generated password (shown once) or a given one (not shown).
        let made = w.db.cli(&["--json", "member", "create", "carol", "--org", "acme", "--role", "manager"]).json();
        assert_eq!((made["username"].as_str(), made["role"].as_str()), (Some("carol"), Some("manager")));
        let password = made["initial_password"].as_str().unwrap();
        assert_eq!(password.len(), 20);
        let text = w.db.cli(&["member", "create", "dave", "--org", "acme", "--role", "member"]).stdout();
        assert!(text.contains("initial password: "), "{text}");
        let given = w.db.cli_with_stdin(&["--json", "member", "create", "erin", "--org", "acme", "--role", "member", "--password-stdin"], Some(&format!("{PASSWORD}\n"))).json();
        assert!(given.get("initial_password").is_none(), "{given}");
        sign_in(&w, &client, "erin", PASSWORD, None, "claims:read");
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let (_, shown, _) = api(&w, "GET", "/v1/orgs/acme/members/erin", &ada, None);
        assert_eq!(keys(&given), keys(&shown));
        // Add, set-role, remove.
        let added = w.db.cli(&["--json", "member", "add", "gina", "--org", "acme", "--role", "member"]).json();
        assert_eq!((added["username"].as_str(), added["role"].as_str()), (Some("gina"), Some("member")));
        let changed = w.db.cli(&["--json", "member", "set-role", "gina", "--org", "acme", "--role", "owner"]).json();
        assert_eq!(changed["role"], "owner");
        let (_, via_http, _) = api(&w, "GET", "/v1/orgs/acme/members/gina", &ada, None);
        assert_eq!(changed, via_http);
        let removed = w.db.cli(&["--json", "member", "remove", "carol", "--org", "acme"]).json();
        assert_eq!((removed["username"].as_str(), removed["role"].as_str(), removed["grants_revoked"].as_i64()), (Some("carol"), Some("manager"), Some(0)));
        // Bad input exits with 2 and changes nothing.
        w.db.cli(&["member", "add", "alice", "--org", "acme", "--role", "member"]).assert_input_error("already");
        w.db.cli(&["member", "add", "nobody", "--org", "acme", "--role", "member"]).assert_input_error("not found");
        w.db.cli(&["member", "add", "gina", "--org", "nope", "--role", "member"]).assert_input_error("not found");
        w.db.cli(&["member", "set-role", "alice", "--org", "acme", "--role", "root"]).assert_input_error("not a role");
        w.db.cli(&["member", "remove", "carol", "--org", "acme"]).assert_input_error("not found");
        w.db.cli(&["member", "create", "alice", "--org", "acme", "--role", "member"]).assert_input_error("already exists");
        let after: Vec<String> = roles(&w, "acme").into_iter().map(|(u, _)| u).collect();
        assert_eq!(after, ["ada", "alice", "dave", "erin", "gina", "mona"]);
        let actions = w.db.cli(&["--json", "audit", "list", "--org", "acme", "--actor", "cli", "--action", "member.created"]).json()["events"].clone();
        let targets: Vec<&str> = actions.as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap()).collect();
        assert_eq!(targets, ["erin", "dave", "carol"]);
    }

    fn roles_gate_member_management(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        // A member and a manager: 403 whatever they try.
        for user in ["alice", "mona"] {
            let bearer = token(&w, &client, user);
            for (method, path, body) in [
                ("GET", "/v1/orgs/acme/members", None),
                ("POST", "/v1/orgs/acme/members", Some(json!({"username": "gina", "role": "member"}))),
                ("PATCH", "/v1/orgs/acme/members/alice", Some(json!({"role": "admin"}))),
                ("DELETE", "/v1/orgs/acme/members/alice", None),
            ] {
                let (status, answer, _) = api(&w, method, path, &bearer, body);
                assert_eq!(status, 403, "{user} {method} {path}: {answer}");
            }
        }
        // An admin may not make or touch an owner.
        create_member(&w, "olga", "acme", "owner");
        let ada = token(&w, &client, "ada");
        for (method, path, body) in [
            ("POST", "/v1/orgs/acme/members", Some(json!({"username": "gina", "role": "owner"}))),
            ("POST", "/v1/orgs/acme/members", Some(json!({"username": "hugo", "role": "owner", "create": true}))),
            ("PATCH", "/v1/orgs/acme/members/alice", Some(json!({"role": "owner"}))),
            ("PATCH", "/v1/orgs/acme/members/olga", Some(json!({"role": "member"}))),
            ("DELETE", "/v1/orgs/acme/members/olga", None),
        ] {
            let (status, answer, _) = api(&w, method, path, &ada, body);
            assert_eq!((status, error_code(&answer)), (403, "forbidden"), "ada {method} {path}: {answer}");
        }
        assert_eq!(roles(&w, "acme"), [("ada".into(), "admin".into()), ("alice".into(), "member".into()), ("mona".into(), "manager".into()), ("olga".into(), "owner".into())]);
        // …but may manage admins and below, herself included.
        let (status, _, _) = api(&w, "PATCH", "/v1/orgs/acme/members/mona", &ada, Some(json!({"role": "admin"})));
        assert_eq!(status, 200);
        // An owner may do all of it.
        let olga = token(&w, &client, "olga");
        let (status, answer, _) = api(&w, "PATCH", "/v1/orgs/acme/members/alice", &olga, Some(json!({"role": "owner"})));
        assert_eq!((status, answer["role"].as_str()), (200, Some("owner")), "{answer}");
        let (status, _, _) = api(&w, "DELETE", "/v1/orgs/acme/members/alice", &olga, None);
        assert_eq!(status, 200);
        // In globex, gina is the owner.
        let gina = token(&w, &client, "gina");
        let (status, answer, _) = api(&w, "POST", "/v1/orgs/globex/members", &gina, Some(json!({"username": "mona", "role": "owner"})));
        assert_eq!((status, answer["role"].as_str()), (201, Some("owner")), "{answer}");
        // A token acts only in its own organization.
        let (status, _, _) = api(&w, "GET", "/v1/orgs/acme/members", &gina, None);
        assert_eq!(status, 404);
        // A token without members:manage: forbidden_scope.
        let weak = sign_in(&w, &client, "olga", PASSWORD, None, "claims:read");
        let (status, answer, _) = api(&w, "GET", "/v1/orgs/acme/members", &weak, None);
        assert_eq!((status, error_code(&answer)), (403, "forbidden_scope"));
    }

    fn an_organization_keeps_its_last_owner(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        let gina = token(&w, &client, "gina");
        let (status, answer, _) = api(&w, "PATCH", "/v1/orgs/globex/members/gina", &gina, Some(json!({"role": "admin"})));
        assert_eq!((status, error_code(&answer)), (409, "conflict"), "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("last owner"));
        let (status, answer, _) = api(&w, "DELETE", "/v1/orgs/globex/members/gina", &gina, None);
        assert_eq!((status, error_code(&answer)), (409, "conflict"), "{answer}");
        // Not even the operator.
        w.db.cli(&["member", "set-role", "gina", "--org", "globex", "--role", "member"]).assert_input_error("last owner");
        w.db.cli(&["member", "remove", "gina", "--org", "globex"]).assert_input_error("last owner");
        assert_eq!(roles(&w, "globex"), [("gina".into(), "owner".into())]);
        // With a second owner, the first may step down.
        w.db.cli(&["--json", "member", "add", "ada", "--org", "globex", "--role", "owner"]).json();
        let (status, answer, _) = api(&w, "PATCH", "/v1/orgs/globex/members/gina", &gina, Some(json!({"role": "admin"})));
        assert_eq!((status, answer["role"].as_str()), (200, Some("admin")), "{answer}");
        assert_eq!(owners(&w, "globex"), 1);
    }

    fn two_owners_demoting_or_removing_each_other_at_once_leave_one(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        w.db.cli(&["--json", "member", "add", "ada", "--org", "globex", "--role", "owner"]).json();
        for round in 0..6 {
            let remove = round % 2 == 1;
            for user in ["gina", "ada"] {
                let current = roles(&w, "globex");
                if !current.iter().any(|(u, _)| u == user) {
                    w.db.cli(&["--json", "member", "add", user, "--org", "globex", "--role", "owner"]).json();
                } else {
                    w.db.cli(&["--json", "member", "set-role", user, "--org", "globex", "--role", "owner"]).json();
                }
            }
            assert_eq!(owners(&w, "globex"), 2);
            // Signed in each round: a removal revokes the removed owner's token.
            let gina = token(&w, &client, "gina");
            let ada = sign_in(&w, &client, "ada", PASSWORD, Some("globex"), SCOPES);
            let barrier = Arc::new(Barrier::new(2));
            let calls = [(gina.clone(), "ada"), (ada.clone(), "gina")].map(|(bearer, other)| {
                let barrier = barrier.clone();
                let http = w.app();
                let url = w.server.url(&format!("/v1/orgs/globex/members/{other}"));
                std::thread::spawn(move || {
                    let req = if remove {
                        http.delete(&url)
                    } else {
                        http.patch(&url).json(&json!({"role": "admin"}))
                    };
                    let req = req.header(AUTHORIZATION, format!("Bearer {bearer}"));
                    barrier.wait();
                    let res = req.send().unwrap();
                    let status = res.status().as_u16();
                    (status, res.text().unwrap())
                })
            });
            let answers: Vec<(u16, String)> = calls.into_iter().map(|t| t.join().unwrap()).collect();
            let ok = answers.iter().filter(|(s, _)| *s == 200).count();
            assert_eq!(ok, 1, "round {round}: exactly one succeeds: {answers:?}");
            // The other is refused: the last owner (409), no longer an owner (403), or — when
            // the removal committed before its call was authorised — its token revoked (401).
            assert!(answers.iter().all(|(s, _)| [200, 401, 403, 409].contains(s)), "{answers:?}");
            assert_eq!(owners(&w, "globex"), 1, "round {round}: {answers:?}");
            assert_eq!(roles(&w, "globex").len(), if remove { 1 } else { 2 });
        }
    }

    fn removing_a_member_revokes_their_access_and_flags_their_integrations(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        create_member(&w, "olga", "acme", "owner");
        let ada = token(&w, &client, "ada");
        let alice = token(&w, &client, "alice");
        let (status, made, _) = api(&w, "POST", "/v1/orgs/acme/integrations", &ada, Some(json!({"name": "Warehouse", "scopes": ["claims:read"]})));
        assert_eq!(status, 201, "{made}");
        let id = made["id"].as_str().unwrap().to_string();
        let integration_token = made["token"].as_str().unwrap().to_string();
        assert_eq!((made["created_by"].as_str(), made["created_by_former_member"].as_bool()), (Some("ada"), Some(false)));
        let (cli_id, _) = w.create_integration("From the CLI", &[]);
        assert_eq!(check(&w, &ada), 200);
        let olga = token(&w, &client, "olga");
        let (status, removed, _) = api(&w, "DELETE", "/v1/orgs/acme/members/ada", &olga, None);
        assert_eq!(status, 200, "{removed}");
        assert_eq!((removed["role"].as_str(), removed["grants_revoked"].as_i64()), (Some("admin"), Some(1)));
        // Her access token is dead at the gateway check and at the management API, at once.
        assert_eq!(check(&w, &ada), 401);
        let (status, answer, _) = api(&w, "GET", "/v1/orgs/acme/members", &ada, None);
        assert_eq!((status, error_code(&answer)), (401, "unauthorized"));
        // Others keep theirs; her integration keeps working, marked for rotation.
        assert_eq!(check(&w, &alice), 200);
        assert_eq!(check(&w, &integration_token), 200);
        let (status, list, _) = api(&w, "GET", "/v1/orgs/acme/integrations", &olga, None);
        assert_eq!(status, 200);
        let find = |id: &str| list["integrations"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap().clone();
        let hers = find(&id);
        assert_eq!((hers["created_by"].as_str(), hers["created_by_former_member"].as_bool()), (Some("ada"), Some(true)));
        let theirs = find(&cli_id);
        assert_eq!((theirs["created_by"].clone(), theirs["created_by_former_member"].as_bool()), (Value::Null, Some(false)));
        let (_, shown, _) = api(&w, "GET", &format!("/v1/orgs/acme/integrations/{id}"), &olga, None);
        assert_eq!(shown["created_by_former_member"], true);
        let cli_shown = w.db.cli(&["--json", "integration", "show", &id]).json();
        assert_eq!(cli_shown["created_by_former_member"], true);
        // She can no longer obtain a token for acme (she belongs to no organization now).
        let browser = w.browser();
        let url = w.authorize_url(&client.0, &[("scope", "claims:read"), ("state", "s")]);
        let login = browser.get(&url).send().unwrap().text().unwrap();
        let mut res = Form::parse(&login).with("username", "ada").with("password", PASSWORD).submit(&browser, &w.server);
        for _ in 0..4 {
            let Some(location) = res.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string()) else {
                break;
            };
            assert!(!location.contains("code="), "no code for a former member: {location}");
            if location.starts_with("http") {
                break;
            }
            res = browser.get(w.server.url(&location)).send().unwrap();
        }
        if res.status() == 200 {
            assert!(!res.text().unwrap().contains("name=\"decision\" value=\"approve\""), "no consent for a former member");
        }
        // Back as a member, the integration is hers again.
        w.db.cli(&["--json", "member", "add", "ada", "--org", "acme", "--role", "member"]).json();
        let (_, shown, _) = api(&w, "GET", &format!("/v1/orgs/acme/integrations/{id}"), &olga, None);
        assert_eq!(shown["created_by_former_member"], false);
    }

    fn a_user_of_acme_joins_globex_and_keeps_acme(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        let ada_acme = token(&w, &client, "ada");
        let gina = token(&w, &client, "gina");
        let (status, added, _) = api(&w, "POST", "/v1/orgs/globex/members", &gina, Some(json!({"username": "ada", "role": "member"})));
        assert_eq!((status, added["role"].as_str()), (201, Some("member")), "{added}");
        // Her acme token and role are unchanged.
        let (status, list, _) = api(&w, "GET", "/v1/orgs/acme/members", &ada_acme, None);
        assert_eq!(status, 200, "{list}");
        assert!(roles(&w, "acme").contains(&("ada".into(), "admin".into())));
        assert!(roles(&w, "globex").contains(&("ada".into(), "member".into())));
        // A token for globex acts there with her globex role (member: too low), and not in acme.
        let ada_globex = sign_in(&w, &client, "ada", PASSWORD, Some("globex"), "claims:read members:manage");
        assert_eq!(check(&w, &ada_globex), 200);
        let (status, _, _) = api(&w, "GET", "/v1/orgs/globex/members", &ada_globex, None);
        assert_eq!(status, 403);
        let (status, _, _) = api(&w, "GET", "/v1/orgs/acme/members", &ada_globex, None);
        assert_eq!(status, 404);
        // Leaving globex leaves acme alone.
        let (status, removed, _) = api(&w, "DELETE", "/v1/orgs/globex/members/ada", &gina, None);
        assert_eq!((status, removed["grants_revoked"].as_i64()), (200, Some(1)), "{removed}");
        assert_eq!(check(&w, &ada_globex), 401);
        assert_eq!(check(&w, &ada_acme), 200);
        let (status, _, _) = api(&w, "GET", "/v1/orgs/acme/members", &ada_acme, None);
        assert_eq!(status, 200);
    }

    fn the_audit_trail_filters_by_target_actor_and_action(db: TestDb) {
        let w = World::new(db);
        let client = console_client(&w);
        let (one, _) = w.create_integration("One", &[]);
        let (two, _) = w.create_integration("Two", &[]);
        let ada = token(&w, &client, "ada");
        for id in [&one, &one, &two] {
            let (status, _, _) = api(&w, "POST", &format!("/v1/orgs/acme/integrations/{id}/rotate"), &ada, None);
            assert_eq!(status, 200);
        }
        let (status, _, _) = api(&w, "POST", &format!("/v1/orgs/acme/integrations/{two}/revoke"), &ada, None);
        assert_eq!(status, 200);
        let page = |query: &str| {
            let (status, body, _) = api(&w, "GET", &format!("/v1/orgs/acme/audit?{query}"), &ada, None);
            assert_eq!(status, 200, "{query}: {body}");
            body
        };
        let summary = |body: &Value| -> Vec<(String, String, String)> {
            body["events"].as_array().unwrap().iter().map(|e| (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap_or("").to_string(),
            )).collect()
        };
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(summary(&page(&format!("target={one}"))), [
            t("user:ada", "integration.rotate", &one), t("user:ada", "integration.rotate", &one), t("cli", "integration.create", &one),
        ]);
        assert_eq!(summary(&page(&format!("target={two}&actor=user:ada"))), [
            t("user:ada", "integration.revoke", &two), t("user:ada", "integration.rotate", &two),
        ]);
        assert_eq!(summary(&page("action=integration.rotate")), [
            t("user:ada", "integration.rotate", &two), t("user:ada", "integration.rotate", &one), t("user:ada", "integration.rotate", &one),
        ]);
        assert_eq!(summary(&page("actor=user:ada&action=integration.create")), []);
        // Pages of one, newest first, to the end.
        let mut seen = Vec::new();
        let mut query = "action=integration.rotate&limit=1".to_string();
        loop {
            let body = page(&query);
            seen.extend(summary(&body));
            match body["next_before"].as_i64() {
                Some(before) => query = format!("action=integration.rotate&limit=1&before={before}"),
                None => break,
            }
            assert!(seen.len() <= 3, "{seen:?}");
        }
        assert_eq!(seen, summary(&page("action=integration.rotate")));
        // Bad parameters: 422 / 400, never 500.
        for (query, want) in [("limit=0", 422), ("limit=1001", 422), ("before=x", 400), ("colour=red", 400)] {
            let (status, body, _) = api(&w, "GET", &format!("/v1/orgs/acme/audit?{query}"), &ada, None);
            assert_eq!(status, want, "{query}: {body}");
        }
        let long = "x".repeat(201);
        let (status, _, _) = api(&w, "GET", &format!("/v1/orgs/acme/audit?target={long}"), &ada, None);
        assert_eq!(status, 422);
        // The CLI, likewise.
        let cli = |args: &[&str]| -> Vec<(String, String, String)> {
            let mut all = vec!["--json", "audit", "list", "--org", "acme"];
            all.extend_from_slice(args);
            // The very page the HTTP API answers.
            summary(&w.db.cli(&all).json())
        };
        assert_eq!(cli(&["--target", &one]), summary(&page(&format!("target={one}"))));
        assert_eq!(cli(&["--actor", "user:ada", "--action", "integration.revoke"]), [t("user:ada", "integration.revoke", &two)]);
        let newest = page("action=integration.rotate&limit=1");
        let before = newest["next_before"].as_i64().unwrap().to_string();
        assert_eq!(cli(&["--action", "integration.rotate", "--limit", "2", "--before", &before]), [
            t("user:ada", "integration.rotate", &one), t("user:ada", "integration.rotate", &one),
        ]);
        w.db.cli(&["audit", "list", "--org", "acme", "--limit", "0"]).assert_input_error("limit");
    }
}
