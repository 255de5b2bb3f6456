//! Plans gate what is *new* (integrations, their tokens, webhook endpoints) over the HTTP API
//! and the CLI; a downgrade keeps what exists working. And integration tokens that carry a
//! management scope call the management API. Both backends.

use serde_json::{Value, json};

use crate::instances::check_status;
use crate::integrations::api;
use crate::oauth_support::World;
use crate::on_both_backends;

fn call(w: &World, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    api(
        w,
        method,
        &format!("/v1/orgs/acme{path}"),
        Some(bearer),
        body,
    )
}

fn check(w: &World, token: &str) -> u16 {
    check_status(&w.server.base, token)
}

fn new_integration(name: &str) -> Value {
    json!({ "name": name, "scopes": ["claims:read"] })
}

fn assert_upgrade(status: u16, body: &Value, plan: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "plan_upgrade_required", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("the {plan} plan")), "{message}");
}

on_both_backends! {
    fn a_plan_without_a_feature_refuses_new_things_and_keeps_old_ones_working(db: TestDb) {
        let w = World::new(db);
        let ada = w.management_token("ada", "integrations:manage webhooks:manage");
        // Every organization keeps every feature it had: enterprise unless told otherwise.
        let plan = w.db.cli(&["--json", "org", "plan", "acme"]).json();
        assert_eq!(plan["plan"], "enterprise");
        let (status, created) = call(&w, "POST", "/integrations", &ada, Some(new_integration("before")));
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let token = created["token"].as_str().unwrap().to_string();

        let free = w.db.cli(&["--json", "org", "set-plan", "acme", "free"]).json();
        assert_eq!(free["plan"], "free");
        assert_eq!(free["features"][0], json!({"feature": "integrations", "enabled": false, "plan": "team"}));

        // Nothing new: no integration, no token, no webhook endpoint — each naming the plan.
        let (status, body) = call(&w, "POST", "/integrations", &ada, Some(new_integration("after")));
        assert_upgrade(status, &body, "team");
        let (status, body) = call(&w, "POST", &format!("/integrations/{id}/rotate"), &ada, None);
        assert_upgrade(status, &body, "team");
        let (status, body) = call(&w, "POST", "/webhooks", &ada, Some(json!({
            "url": "https://hooks.example.com/tessera", "events": ["integration.revoked"],
        })));
        assert_upgrade(status, &body, "enterprise");
        w.db.cli(&["integration", "create", "--org", "acme", "--name", "cli", "--scope", "claims:read"])
            .assert_input_error("need the team plan or higher");

        // What exists keeps working, can be read, and can be ended.
        assert_eq!(check(&w, &token), 200);
        let (status, list) = call(&w, "GET", "/integrations", &ada, None);
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["integrations"].as_array().unwrap().len(), 1);

        // An operator's override turns one feature on whatever the plan, and off again.
        w.db.cli(&["org", "feature", "acme", "integrations", "on", "--for", "14d"]);
        let (status, body) = call(&w, "POST", "/integrations", &ada, Some(new_integration("trial")));
        assert_eq!(status, 201, "{body}");
        w.db.cli(&["org", "feature", "acme", "integrations", "default"]);
        let (status, body) = call(&w, "POST", "/integrations", &ada, Some(new_integration("after trial")));
        assert_upgrade(status, &body, "team");

        // Team has integrations and not webhooks.
        w.db.cli(&["org", "set-plan", "acme", "team"]);
        let (status, body) = call(&w, "POST", &format!("/integrations/{id}/rotate"), &ada, None);
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(&w, "POST", "/webhooks", &ada, Some(json!({
            "url": "https://hooks.example.com/tessera", "events": ["integration.revoked"],
        })));
        assert_upgrade(status, &body, "enterprise");
        let (status, body) = call(&w, "POST", &format!("/integrations/{id}/revoke"), &ada, None);
        assert_eq!(status, 200, "{body}");

        // Each change of plan or override is audited.
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json()["events"].clone();
        let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(actions.iter().filter(|a| **a == "org.plan_changed").count(), 2, "{actions:?}");
        assert_eq!(actions.iter().filter(|a| **a == "org.feature_override").count(), 2, "{actions:?}");
        // Bad names are input errors.
        w.db.cli(&["org", "set-plan", "acme", "gold"]).assert_input_error("not a plan");
        w.db.cli(&["org", "feature", "acme", "sso", "on"]).assert_input_error("not a feature");
    }

    fn new_organizations_take_the_configured_default_plan(db: TestDb) {
        let out = db.cli_with_env(&["--json", "org", "create", "startup"], None, &[("TESSERA_DEFAULT_PLAN", "free")]).json();
        assert_eq!(out["plan"], "free");
        let out = db.cli(&["--json", "org", "create", "bigco"]).json();
        assert_eq!(out["plan"], "enterprise");
        let out = db.cli(&["--json", "org", "create", "mid", "--plan", "team"]).json();
        assert_eq!(out["plan"], "team");
    }

    fn an_integration_token_with_the_management_scope_manages_integrations(db: TestDb) {
        let w = World::new(db);
        let robot = w.db.cli(&[
            "--json", "integration", "create", "--org", "acme", "--name", "rotation bot",
            "--scope", "integrations:manage claims:read", "--allow-ip", "127.0.0.0/8", "--created-by", "ada",
        ]).json();
        let bot = robot["token"].as_str().unwrap();
        let (_, target_token) = w.create_integration("payments", &[]);
        let (status, list) = call(&w, "GET", "/integrations", bot, None);
        assert_eq!(status, 200, "{list}");
        let id_of = |list: &Value, name: &str| list["integrations"].as_array().unwrap().iter()
            .find(|i| i["name"] == name).unwrap()["id"].as_str().unwrap().to_string();
        let target = id_of(&list, "payments");
        let (status, rotated) = call(&w, "POST", &format!("/integrations/{target}/rotate"), bot, Some(json!({"grace": "1h"})));
        assert_eq!(status, 200, "{rotated}");
        assert_eq!(check(&w, &target_token), 200, "within its grace");
        assert_eq!(check(&w, rotated["token"].as_str().unwrap()), 200);
        // The grace is capped at 7 days.
        let (status, body) = call(&w, "POST", &format!("/integrations/{target}/rotate"), bot, Some(json!({"grace": "8d"})));
        assert_eq!(status, 422, "{body}");
        // It grants no more than it holds: not by creating, not by rotating, not by lifting
        // an allowlist.
        let (status, body) = call(&w, "POST", "/integrations", bot, Some(json!({
            "name": "wider", "scopes": ["audit:read"],
        })));
        assert_eq!(status, 422, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("not held"), "{body}");
        let wide = w.db.cli(&[
            "--json", "integration", "create", "--org", "acme", "--name", "auditor",
            "--scope", "audit:read", "--allow-ip", "10.0.0.0/8",
        ]).json();
        let wide_id = wide["id"].as_str().unwrap();
        let (status, body) = call(&w, "POST", &format!("/integrations/{wide_id}/rotate"), bot, None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
        let (status, body) = call(&w, "PATCH", &format!("/integrations/{wide_id}"), bot, Some(json!({"allow_ips": []})));
        assert_eq!(status, 403, "{body}");
        let (status, body) = call(&w, "PATCH", &format!("/integrations/{wide_id}"), bot, Some(json!({"name": "auditor (old)"})));
        assert_eq!(status, 200, "renaming hands out nothing: {body}");
        let (status, created) = call(&w, "POST", "/integrations", bot, Some(json!({
            "name": "made by a bot", "scopes": ["claims:read"],
        })));
        assert_eq!(status, 201, "{created}");
        // The audit trail names the integration that acted, from where.
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json()["events"].clone();
        let rotate = audit.as_array().unwrap().iter().find(|e| e["action"] == "integration.rotate").unwrap();
        assert_eq!(rotate["actor"], format!("integration:{}", robot["id"].as_str().unwrap()));
        assert_eq!(rotate["ip"], "127.0.0.1");

        // Without the scope: 403; from outside its allowlist: 401; another organization: 404.
        let (_, plain) = w.create_integration("plain", &[]);
        let (status, body) = call(&w, "GET", "/integrations", &plain, None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden_scope")), "{body}");
        let fenced = w.db.cli(&[
            "--json", "integration", "create", "--org", "acme", "--name", "fenced bot",
            "--scope", "integrations:manage", "--allow-ip", "10.0.0.0/8", "--created-by", "ada",
        ]).json();
        let (status, body) = call(&w, "GET", "/integrations", fenced["token"].as_str().unwrap(), None);
        assert_eq!(status, 401, "{body}");
        let globex = w.db.cli(&[
            "--json", "integration", "create", "--org", "globex", "--name", "globex bot",
            "--scope", "integrations:manage", "--created-by", "gina",
        ]).json();
        let (status, body) = call(&w, "GET", "/integrations", globex["token"].as_str().unwrap(), None);
        assert_eq!(status, 404, "{body}");
        // Members are people's business: a token with members:manage may list, not change.
        let people = w.db.cli(&[
            "--json", "integration", "create", "--org", "acme", "--name", "people bot",
            "--scope", "members:manage",
        ]).json();
        let people = people["token"].as_str().unwrap();
        let (status, body) = call(&w, "GET", "/members", people, None);
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(&w, "POST", "/members", people, Some(json!({
            "username": "sneaky", "role": "admin", "create": true,
        })));
        assert_eq!(status, 403, "{body}");
        assert!(body.get("initial_password").is_none());
        let (status, body) = call(&w, "PATCH", "/members/alice", people, Some(json!({"role": "admin"})));
        assert_eq!(status, 403, "{body}");
        // A revoked bot is refused at once.
        let (status, _) = call(&w, "POST", &format!("/integrations/{}/revoke", robot["id"].as_str().unwrap()), bot, None);
        assert_eq!(status, 200);
        let (status, _) = call(&w, "GET", "/integrations", bot, None);
        assert_eq!(status, 401);
    }

    fn a_lowered_role_ends_the_grants_given_for_the_higher_one(db: TestDb) {
        let w = World::new(db);
        let ada = w.management_token("ada", "integrations:manage");
        assert_eq!(check(&w, &ada), 200);
        w.db.cli(&["member", "set-role", "ada", "--org", "acme", "--role", "manager"]);
        assert_eq!(check(&w, &ada), 401, "the grant made for an admin ended");
        let (status, _) = call(&w, "GET", "/integrations", &ada, None);
        assert_eq!(status, 401);
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme", "--action", "member.role_changed"]).json()["events"].clone();
        let detail = audit[0]["detail"].as_str().unwrap();
        assert!(detail.contains("grants_revoked=1"), "{detail}");
        // Raising a role ends nothing.
        let mona = w.management_token("mona", "webhooks:manage");
        w.db.cli(&["member", "set-role", "mona", "--org", "acme", "--role", "admin"]);
        assert_eq!(check(&w, &mona), 200);
    }

    fn after_a_downgrade_webhook_endpoints_may_stop_but_not_start_or_move(db: TestDb) {
        let w = World::with_config(db, &[
            ("TESSERA_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8"), ("TESSERA_WEBHOOK_ALLOW_HTTP", "true"),
        ]);
        let ada = w.management_token("ada", "webhooks:manage");
        let (status, hook) = call(&w, "POST", "/webhooks", &ada, Some(json!({
            "url": "http://127.0.0.1:9/hook", "events": ["integration.revoked"],
        })));
        assert_eq!(status, 201, "{hook}");
        let id = hook["id"].as_str().unwrap();
        w.db.cli(&["org", "set-plan", "acme", "team"]);
        let (status, body) = call(&w, "POST", &format!("/webhooks/{id}/disable"), &ada, None);
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(&w, "POST", &format!("/webhooks/{id}/enable"), &ada, None);
        assert_upgrade(status, &body, "enterprise");
        let (status, body) = call(&w, "POST", &format!("/webhooks/{id}/rotate-secret"), &ada, None);
        assert_upgrade(status, &body, "enterprise");
        let (status, body) = call(&w, "PATCH", &format!("/webhooks/{id}"), &ada, Some(json!({"url": "http://127.0.0.1:10/elsewhere"})));
        assert_upgrade(status, &body, "enterprise");
        let (status, body) = call(&w, "PATCH", &format!("/webhooks/{id}"), &ada, Some(json!({"description": "kept"})));
        assert_eq!(status, 200, "{body}");
    }
}
