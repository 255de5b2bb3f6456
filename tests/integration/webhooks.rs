//! Webhooks, end to end: a real receiver (tests/peers/webhook_receiver.py) verifies every
//! delivery with the Standard Webhooks reference library (PyPI `standardwebhooks`),
//! unchanged — through a secret rotation, retries, refused redirects and addresses, a crash
//! mid-delivery, and two instances sharing one PostgreSQL outbox.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::oauth_support::World;
use crate::on_both_backends;
use crate::support::{ServerProcess, TestDb};

/// What every test server here allows: the receiver runs on loopback over plain http. Retries
/// come after a second instead of Standard Webhooks' 5 s, 5 min, …; idle instances look every
/// 50 ms.
pub(crate) const LOCAL_RECEIVERS: [(&str, &str); 4] = [
    ("TESSERA_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8"),
    ("TESSERA_WEBHOOK_ALLOW_HTTP", "true"),
    ("TESSERA_WEBHOOK_RETRY_SCHEDULE", "1s 1s 1s"),
    ("TESSERA_WEBHOOK_POLL", "50ms"),
];

/// The Python receiver, on a random loopback port; killed when dropped.
pub(crate) struct Receiver {
    child: Child,
    pub(crate) base: String,
}

impl Receiver {
    /// Starts the receiver, or `None` when Python's `standardwebhooks` is missing (and the
    /// peers are not required).
    pub(crate) fn start() -> Option<Receiver> {
        let available = Command::new("python3")
            .args(["-c", "import standardwebhooks"])
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            if std::env::var_os("TESSERA_TEST_REQUIRE_PEERS").is_some() {
                panic!("Python with standardwebhooks is required (pip install standardwebhooks)");
            }
            eprintln!("python3 with standardwebhooks not available: webhook test skipped");
            return None;
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/webhook_receiver.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .expect("receiver port");
        Some(Receiver {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The secrets the receiver verifies each delivery with, by label.
    pub(crate) fn verify_with(&self, secrets: &Value) {
        let res = Client::new()
            .put(self.url("/_control/secrets"))
            .json(secrets)
            .send()
            .unwrap();
        assert_eq!(res.status(), 204);
    }

    pub(crate) fn received(&self) -> Vec<Value> {
        Client::new()
            .get(self.url("/_control/received"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// Waits (up to 20 s) until `done` holds for what was received; returns it.
    pub(crate) fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver never saw {what}; got {got:#?}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CLI with the same webhook settings as the servers here (it checks URLs itself).
pub(crate) fn webhook_cli(db: &TestDb, args: &[&str]) -> Value {
    db.cli_with_env(args, None, &LOCAL_RECEIVERS).json()
}

fn of_type<'a>(got: &'a [Value], t: &str) -> Vec<&'a Value> {
    got.iter().filter(|r| r["type"] == t).collect()
}

/// A management client for organization `acme` with a bearer token.
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

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/v1/orgs/acme{path}", self.base);
        let req = Client::new()
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.bearer);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let res = req.send().unwrap();
        let status = res.status().as_u16();
        let text = res.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn create_webhook(api: &Api, url: &str, events: Value) -> Value {
    let (status, body) = api.send(
        "POST",
        "/webhooks",
        Some(json!({"url": url, "events": events, "description": "test receiver"})),
    );
    assert_eq!(status, 201, "{body}");
    body
}

on_both_backends! {
    fn deliveries_verify_with_the_reference_library_through_a_secret_rotation(db: TestDb) {
        let Some(rx) = Receiver::start() else { return };
        let w = World::with_config(db, &LOCAL_RECEIVERS);
        let api = Api::new(&w, "ada", "integrations:manage webhooks:manage");
        let hook = create_webhook(
            &api,
            &rx.url("/ok"),
            json!(["integration.created", "integration.revoked", "integration.updated"]),
        );
        let (id, old) = (hook["id"].as_str().unwrap(), hook["secret"].as_str().unwrap());
        assert!(old.starts_with("whsec_"));
        // Listings never show a secret.
        let (_, listed) = api.send("GET", "/webhooks", None);
        assert_eq!(listed["webhooks"][0]["id"], id);
        assert!(!listed.to_string().contains("whsec_"), "{listed}");
        rx.verify_with(&json!({ "old": old }));

        let (status, created) = api.send(
            "POST",
            "/integrations",
            Some(json!({"name": "Zapier", "scopes": ["claims:read"]})),
        );
        assert_eq!(status, 201);
        let integration = created["id"].as_str().unwrap();
        let token = created["token"].as_str().unwrap();
        let got = rx.wait_for("integration.created", |g| !of_type(g, "integration.created").is_empty());
        let first = of_type(&got, "integration.created")[0];
        assert_eq!(first["verified"]["old"], true, "{first}");
        assert_eq!(first["status"], 200);
        assert!(first["id"].as_str().unwrap().starts_with("msg_"));
        let body: Value = serde_json::from_str(first["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["type"], "integration.created");
        assert_eq!(body["data"]["id"], integration);
        assert_eq!(body["data"]["prefix"], created["prefix"]);
        assert!(body["timestamp"].is_string());
        assert!(!first["body"].as_str().unwrap().contains(token), "an event never holds a token");

        // Rotate with a day's grace: both secrets sign, so either verifies on its own.
        let (status, rotated) =
            api.send("POST", &format!("/webhooks/{id}/rotate-secret"), Some(json!({"grace": "24h"})));
        assert_eq!(status, 200, "{rotated}");
        let new = rotated["secret"].as_str().unwrap();
        assert_ne!(new, old);
        rx.verify_with(&json!({ "old": old, "new": new }));
        let (status, _) = api.send("POST", &format!("/integrations/{integration}/revoke"), None);
        assert_eq!(status, 200);
        let got = rx.wait_for("integration.revoked", |g| !of_type(g, "integration.revoked").is_empty());
        let revoked = of_type(&got, "integration.revoked")[0];
        assert_eq!(revoked["verified"], json!({"old": true, "new": true}), "{revoked}");
        assert_eq!(revoked["signature"].as_str().unwrap().split(' ').count(), 2);

        // Rotate without grace: only the newest secret signs from now on.
        let (status, again) = api.send("POST", &format!("/webhooks/{id}/rotate-secret"), None);
        assert_eq!(status, 200);
        let newest = again["secret"].as_str().unwrap();
        rx.verify_with(&json!({ "new": new, "newest": newest }));
        let (status, _) = api.send(
            "PATCH",
            &format!("/integrations/{integration}"),
            Some(json!({"description": "renamed"})),
        );
        assert_eq!(status, 200);
        let got = rx.wait_for("integration.updated", |g| !of_type(g, "integration.updated").is_empty());
        let updated = of_type(&got, "integration.updated")[0];
        assert_eq!(updated["verified"], json!({"new": false, "newest": true}), "{updated}");
        // Unsubscribed events are not sent: the rotations themselves published nothing.
        assert_eq!(got.len(), 3, "{got:#?}");
    }

    fn a_failing_receiver_is_retried_with_the_same_id_and_can_be_redelivered(db: TestDb) {
        let Some(rx) = Receiver::start() else { return };
        let w = World::with_config(db, &LOCAL_RECEIVERS);
        let created = webhook_cli(&w.db, &[
            "--json", "webhook", "create", "--org", "acme", "--url", &rx.url("/fail/2"),
            "--events", "integration.created",
        ]);
        for key in ["id", "secret", "url", "events"] {
            assert!(!created[key].is_null(), "{key} missing from {created}");
        }
        let id = created["id"].as_str().unwrap();
        rx.verify_with(&json!({ "s": created["secret"] }));
        // The test event is sent at once; its first attempt fails (500).
        let out = w.db.cli_with_env(&["--json", "webhook", "test", id], None, &LOCAL_RECEIVERS);
        assert_eq!(out.code(), 1, "a test not delivered fails the command: {}", out.stderr());
        let tested: Value = serde_json::from_str(&out.stdout()).unwrap();
        assert_eq!(tested["attempt"]["status_code"], 500, "{tested}");
        assert_eq!(tested["attempt"]["state"], "pending");
        assert!(tested["attempt"]["next_attempt_at"].is_string());
        let msg = tested["event_id"].as_str().unwrap().to_string();
        // Retried by the server on the schedule, same webhook-id, until the receiver says 200.
        let got = rx.wait_for("three attempts", |g| {
            g.iter().filter(|r| r["id"] == msg.as_str() && !r["status"].is_null()).count() == 3
        });
        let statuses: Vec<&Value> = got.iter().filter(|r| r["id"] == msg.as_str()).map(|r| &r["status"]).collect();
        assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
        assert!(got.iter().all(|r| r["verified"]["s"] == true));
        let log = wait_delivered(&w.db, id, &msg);
        let attempts: Vec<&Value> = log["attempts"].as_array().unwrap().iter().map(|a| &a["status_code"]).collect();
        assert_eq!(attempts, [&json!(500), &json!(500), &json!(200)], "{log}");
        assert_eq!(log["attempts"][0]["response_excerpt"], "answer from the receiver");

        // By hand, again: same event, same id.
        let delivery = log["id"].as_i64().unwrap().to_string();
        let queued = w.db.cli(&["--json", "webhook", "redeliver", id, &delivery]).json();
        assert_eq!(queued["state"], "pending");
        rx.wait_for("a redelivery", |g| g.iter().filter(|r| r["id"] == msg.as_str()).count() == 4);
        // A disabled endpoint is sent nothing, but its events wait for it.
        w.db.cli(&["--json", "webhook", "disable", id]).json();
        w.create_integration("while disabled", &[]);
        std::thread::sleep(Duration::from_millis(300)); // several polls: nothing may go out
        assert!(of_type(&rx.received(), "integration.created").is_empty());
        assert_eq!(w.db.cli(&["--json", "webhook", "show", id]).json()["pending_deliveries"], 1);
        w.db.cli(&["--json", "webhook", "enable", id]).json();
        rx.wait_for("the event queued while disabled", |g| {
            of_type(g, "integration.created").iter().any(|r| r["status"] == 200)
        });
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json()["events"].clone();
        let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for a in ["webhook.create", "webhook.test", "webhook.redeliver", "webhook.disable", "webhook.enable"] {
            assert!(actions.contains(&a), "{a} not in {actions:?}");
        }
        assert!(!audit.to_string().contains("whsec_"));
    }

    fn redirects_gone_receivers_and_private_addresses_are_refused(db: TestDb) {
        let Some(rx) = Receiver::start() else { return };
        // Without an allow-list, loopback and private addresses are refused at creation (422).
        let w = World::with_config(db, &[("TESSERA_WEBHOOK_ALLOW_HTTP", "true")]);
        let api = Api::new(&w, "ada", "webhooks:manage");
        for url in [
            rx.url("/ok"),
            "http://10.0.0.8/hook".into(),
            "http://169.254.169.254/latest/meta-data".into(),
            "http://[::ffff:127.0.0.1]/".into(),
            "http://100.64.1.1/".into(),
            "ftp://example.com/".into(),
        ] {
            let (status, body) = api.send("POST", "/webhooks", Some(json!({"url": url, "events": ["webhook.test"]})));
            assert_eq!(status, 422, "{url}: {body}");
            assert_eq!(body["error"]["code"], "invalid_request");
        }
        let (status, body) = api.send("POST", "/webhooks", Some(json!({"url": rx.url("/ok"), "events": ["no.such"]})));
        assert_eq!(status, 422, "{body}");

        // Allowed when created; refused at delivery once the operator narrows the policy (as
        // when a name resolves elsewhere later): a recorded failure, nothing sent.
        let w = w.restart(&LOCAL_RECEIVERS);
        let api = Api::new(&w, "ada", "webhooks:manage");
        let later = create_webhook(&api, &rx.url("/ok"), json!(["integration.created"]));
        let redirect = create_webhook(&api, &rx.url("/redirect"), json!(["webhook.test"]));
        let gone = create_webhook(&api, &rx.url("/gone"), json!(["webhook.test"]));

        // A redirect is a failure, never followed.
        let (status, tested) = api.send("POST", &format!("/webhooks/{}/test", redirect["id"].as_str().unwrap()), None);
        assert_eq!(status, 200, "{tested}");
        assert_eq!(tested["attempt"]["status_code"], 302);
        assert!(tested["attempt"]["error"].as_str().unwrap().contains("redirect"), "{tested}");
        // (Its retries would reach the receiver again: stop them.)
        let (status, _) = api.send("POST", &format!("/webhooks/{}/disable", redirect["id"].as_str().unwrap()), None);
        assert_eq!(status, 200);
        // 410 Gone disables the endpoint, with an audit event.
        let gone_id = gone["id"].as_str().unwrap();
        let (_, tested) = api.send("POST", &format!("/webhooks/{gone_id}/test"), None);
        assert_eq!(tested["attempt"]["status_code"], 410);
        assert_eq!(tested["attempt"]["state"], "failed");
        let (_, shown) = api.send("GET", &format!("/webhooks/{gone_id}"), None);
        assert_eq!(shown["enabled"], false, "{shown}");
        assert!(shown["disabled_reason"].as_str().unwrap().contains("410"));

        let w = w.restart(&[("TESSERA_WEBHOOK_ALLOW_HTTP", "true"), ("TESSERA_WEBHOOK_POLL", "50ms")]);
        w.create_integration("after the policy changed", &[]);
        let later_id = later["id"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let log = loop {
            let log = w.db.cli(&["--json", "webhook", "deliveries", later_id]).json();
            if log[0]["attempts"].as_array().is_some_and(|a| !a.is_empty()) {
                break log;
            }
            assert!(Instant::now() < deadline, "no attempt recorded: {log}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let error = log[0]["attempts"][0]["error"].as_str().unwrap();
        assert!(error.contains("address refused") && error.contains("127.0.0.1"), "{error}");
        let received = rx.received();
        let paths: Vec<&str> = received.iter().map(|r| r["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["/redirect", "/gone"], "nothing else reached the receiver");
    }

    fn only_managers_and_above_with_the_scope_manage_webhooks(db: TestDb) {
        let w = World::with_config(db, &LOCAL_RECEIVERS);
        let without_scope = Api::new(&w, "ada", "integrations:manage");
        let (status, body) = without_scope.send("GET", "/webhooks", None);
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden_scope");
        let manager = Api::new(&w, "mona", "webhooks:manage");
        let (status, body) = manager.send("GET", "/webhooks", None);
        assert_eq!(status, 200, "{body}");
        // An integration token is a management credential only with the scope.
        let (_, integration_token) = w.create_integration("no management scope", &[]);
        let res = Client::new()
            .get(w.server.url("/v1/orgs/acme/webhooks"))
            .bearer_auth(&integration_token)
            .send()
            .unwrap();
        assert_eq!(res.status(), 403);
        let body: Value = res.json().unwrap();
        assert_eq!(body["error"]["code"], "forbidden_scope", "{body}");
        let robot = w.db.cli(&[
            "--json", "integration", "create", "--org", "acme", "--name", "robot",
            "--scope", "webhooks:manage",
        ]).json();
        let res = Client::new()
            .get(w.server.url("/v1/orgs/acme/webhooks"))
            .bearer_auth(robot["token"].as_str().unwrap())
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        // Another organization's endpoint does not exist for acme's callers.
        let other = webhook_cli(&w.db, &[
            "--json", "webhook", "create", "--org", "globex", "--url", "http://127.0.0.1:9/x",
            "--events", "webhook.test",
        ]);
        let (status, _) = manager.send("GET", &format!("/webhooks/{}", other["id"].as_str().unwrap()), None);
        assert_eq!(status, 404);
        // The CLI's whole life cycle, with the same vocabulary.
        let id = other["id"].as_str().unwrap();
        let rotated = w.db.cli(&["--json", "webhook", "rotate-secret", id, "--grace", "24h"]).json();
        assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
        w.db.cli(&["--json", "webhook", "rotate-secret", id, "--grace", "8d"]).assert_input_error("7d");
        let shown = w.db.cli(&["--json", "webhook", "show", id]).json();
        assert!(shown["previous_secret_expires_at"].is_string());
        assert!(!shown.to_string().contains("whsec_"));
        let updated = w.db.cli(&["--json", "webhook", "update", id, "--events", "integration.revoked integration.leaked"]).json();
        assert_eq!(updated["events"], json!(["integration.revoked", "integration.leaked"]));
        assert_eq!(w.db.cli(&["--json", "webhook", "disable", id]).json()["enabled"], false);
        assert_eq!(w.db.cli(&["--json", "webhook", "enable", id]).json()["enabled"], true);
        assert_eq!(w.db.cli(&["--json", "webhook", "list", "--org", "globex"]).json()["webhooks"].as_array().unwrap().len(), 1);
        w.db.cli(&["--json", "webhook", "delete", id]).json();
        w.db.cli(&["--json", "webhook", "show", id]).assert_input_error("not found");
    }

    fn expiry_notices_and_client_events_reach_subscribers(db: TestDb) {
        let Some(rx) = Receiver::start() else { return };
        let w = World::with_config(db, &LOCAL_RECEIVERS);
        let hook = webhook_cli(&w.db, &[
            "--json", "webhook", "create", "--org", "acme", "--url", &rx.url("/ok"), "--events",
            "integration.expiring integration.expired client.created client.secret_rotated client.deleted",
        ]);
        rx.verify_with(&json!({ "s": hook["secret"] }));
        let (soon, _) = w.create_integration("Soon", &["--expires-in", "2d"]);
        let (later, _) = w.create_integration("Later", &["--expires-in", "30d"]);
        // Housekeeping (every minute in `serve`; `tessera purge` runs it now) announces each
        // notice once, whoever runs it.
        assert_eq!(w.db.cli(&["--json", "purge"]).json()["expiry_notices"], 1);
        assert_eq!(w.db.cli(&["--json", "purge"]).json()["expiry_notices"], 0);
        w.db.cli(&["--json", "integration", "expire", &later]).json();
        assert_eq!(w.db.cli(&["--json", "purge"]).json()["expiry_notices"], 0, "announced by the expiry itself");

        let created = w.db.cli(&[
            "--json", "client", "create", "--org", "acme", "--name", "Short-lived",
            "--redirect-uri", crate::oauth_support::REDIRECT, "--scope", "claims:read",
        ]).json();
        let new_client = created["client_id"].as_str().unwrap();
        w.db.cli(&["--json", "client", "rotate-secret", new_client]).json();
        // Deleting a client ends its tokens at once.
        let tokens = w.tokens_for(&w.browser(), "alice", "claims:read");
        let access = tokens["access_token"].as_str().unwrap();
        let check = |t: &str| Client::new().get(w.server.url("/v1/check")).bearer_auth(t).send().unwrap().status().as_u16();
        assert_eq!(check(access), 200);
        let deleted = w.db.cli(&["--json", "client", "delete", &w.client_id]).json();
        assert_eq!(deleted["grants_revoked"], 1, "{deleted}");
        assert_eq!(check(access), 401);

        let got = rx.wait_for("five events", |g| g.iter().filter(|r| r["status"] == 200).count() == 5);
        let body = |t: &str| -> Value {
            let r = got.iter().find(|r| r["type"] == t).unwrap_or_else(|| panic!("no {t} in {got:#?}"));
            assert_eq!(r["verified"]["s"], true);
            serde_json::from_str(r["body"].as_str().unwrap()).unwrap()
        };
        let expiring = body("integration.expiring");
        assert_eq!(expiring["data"]["id"], soon);
        let left = expiring["data"]["expires_in_seconds"].as_i64().unwrap();
        assert!((86_400..=2 * 86_400).contains(&left), "{expiring}");
        assert_eq!(body("integration.expired")["data"]["id"], later);
        assert_eq!(body("client.created")["data"]["client_id"], new_client);
        assert!(!body("client.created").to_string().contains("tsr_cs_"), "no secret in events");
        assert_eq!(body("client.secret_rotated")["data"]["client_id"], new_client);
        assert_eq!(body("client.deleted")["data"]["client_id"], w.client_id.as_str());
    }

    fn a_worker_that_outlived_its_claim_does_not_overwrite_the_delivery(db: TestDb) {
        use tessera::store::webhooks::{self as outbox, AttemptRecord, DeliveryState};
        // No server runs: the claims below are made by hand, at chosen times.
        db.cli(&["--json", "org", "create", "acme"]).json();
        webhook_cli(&db, &[
            "--json", "webhook", "create", "--org", "acme", "--url", "http://127.0.0.1:9/",
            "--events", "integration.created",
        ]);
        db.cli(&["--json", "integration", "create", "--org", "acme", "--name", "n", "--scope", "audit:read"]).json();
        let mut conn = db.conn();
        let t0 = chrono::Utc::now().naive_utc() + chrono::TimeDelta::seconds(1);
        let second = chrono::TimeDelta::seconds(1);
        let first = outbox::claim(&mut conn, t0, t0 + second, 1).unwrap().pop().expect("due");
        // Its lease lapses; another worker takes the delivery over, and delivers it.
        assert!(outbox::claim(&mut conn, t0, t0 + second, 1).unwrap().is_empty(), "claimed already");
        let t1 = t0 + second * 2;
        let second_claim = outbox::claim(&mut conn, t1, t1 + second, 1).unwrap().pop().expect("lapsed");
        assert_eq!((first.attempt, second_claim.attempt), (1, 2));
        let attempt = |state, status| AttemptRecord {
            attempted_at: t1,
            status_code: Some(status),
            latency_ms: 1,
            response_excerpt: None,
            error: None,
            next_attempt_at: (state == DeliveryState::Pending).then_some(t1 + second),
            state,
        };
        // Redelivered by hand meanwhile: the count starts again, so only the lease tells the
        // second worker's claim from the new one.
        let delivery = second_claim.delivery_id;
        let endpoint_id = second_claim.endpoint_id.clone();
        assert!(outbox::redeliver(&mut conn, &endpoint_id, delivery).unwrap());
        let t2 = t1 + chrono::TimeDelta::milliseconds(1);
        let third = outbox::claim(&mut conn, t2, t2 + second * 5, 1).unwrap().pop().expect("queued again");
        assert_eq!(third.attempt, 1, "a fresh count");
        let mut stale = second_claim.clone();
        stale.attempt = third.attempt;
        assert!(!outbox::record_attempt(&mut conn, &stale, &attempt(DeliveryState::Failed, 500)).unwrap());
        assert!(outbox::record_attempt(&mut conn, &third, &attempt(DeliveryState::Delivered, 200)).unwrap());
        // The first worker wakes up and reports its failure: logged, but the delivery stays
        // delivered and unclaimed.
        assert!(!outbox::record_attempt(&mut conn, &first, &attempt(DeliveryState::Pending, 500)).unwrap());
        let endpoint = endpoint_id;
        drop(conn);
        let log = db.cli(&["--json", "webhook", "deliveries", &endpoint]).json();
        assert_eq!(log[0]["state"], "delivered", "{log}");
        assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 3);
        let mut conn = db.conn();
        assert!(outbox::claim(&mut conn, t1 + second * 10, t1 + second * 11, 1).unwrap().is_empty());
    }

    fn an_endpoint_failing_too_long_is_disabled_with_an_audit_event(db: TestDb) {
        let Some(rx) = Receiver::start() else { return };
        let settings = [LOCAL_RECEIVERS.as_slice(), &[("TESSERA_WEBHOOK_DISABLE_AFTER", "1s")]].concat();
        let w = World::with_config(db, &settings);
        let hook = webhook_cli(&w.db, &[
            "--json", "webhook", "create", "--org", "acme", "--url", &rx.url("/fail/100"),
            "--events", "integration.created",
        ]);
        let id = hook["id"].as_str().unwrap();
        w.create_integration("to a failing receiver", &[]);
        let deadline = Instant::now() + Duration::from_secs(20);
        let shown = loop {
            let shown = w.db.cli(&["--json", "webhook", "show", id]).json();
            if shown["enabled"] == false {
                break shown;
            }
            assert!(Instant::now() < deadline, "never disabled: {shown}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(shown["disabled_reason"].as_str().unwrap().contains("every delivery failed since"), "{shown}");
        assert!(rx.received().len() >= 2, "it was retried before giving up");
        let audit = w.db.cli(&["--json", "audit", "list", "--org", "acme"]).json()["events"].clone();
        let disable = audit.as_array().unwrap().iter().find(|e| e["action"] == "webhook.disable").expect("audited");
        assert_eq!(disable["actor"], "system");
        assert_eq!(disable["target"], id);
    }

    fn test_deliveries_held_by_slow_receivers_are_bounded(db: TestDb) {
        let Some(rx) = Receiver::start() else { return };
        let settings = [LOCAL_RECEIVERS.as_slice(), &[("TESSERA_WEBHOOK_TIMEOUT", "5s")]].concat();
        let w = World::with_config(db, &settings);
        let api = Api::new(&w, "ada", "webhooks:manage");
        let hook = create_webhook(&api, &rx.url("/hang"), json!(["webhook.test"]));
        let path = format!("/webhooks/{}/test", hook["id"].as_str().unwrap());
        std::thread::scope(|s| {
            let held: Vec<_> = (0..4).map(|_| s.spawn(|| api.send("POST", &path, None))).collect();
            rx.wait_for("four held test deliveries", |g| g.len() == 4);
            // Four threads are held by the receiver; a fifth test is refused, not queued
            // behind them, and the server still answers everything else.
            let url = format!("{}/v1/orgs/acme{path}", api.base);
            let res = Client::new().post(url).bearer_auth(&api.bearer).send().unwrap();
            assert_eq!(res.status(), 429);
            assert_eq!(res.headers()["retry-after"], "1");
            let (status, _) = api.send("GET", "/webhooks", None);
            assert_eq!(status, 200);
            for h in held {
                let (status, body) = h.join().unwrap();
                assert_eq!(status, 200, "{body}");
                assert!(body["attempt"]["error"].as_str().unwrap().contains("timed out"), "{body}");
            }
        });
    }

    fn a_crash_mid_delivery_loses_nothing(db: TestDb) {
        let Some(rx) = Receiver::start() else { return };
        // A short timeout, so the dead worker's claim lapses soon (timeout + 5 s).
        let settings = [LOCAL_RECEIVERS.as_slice(), &[("TESSERA_WEBHOOK_TIMEOUT", "2s")]].concat();
        let first = ServerProcess::start(&db, &settings);
        let created = webhook_cli(&db, &[
            "--json", "webhook", "create", "--org", "default", "--url", &rx.url("/hang"),
            "--events", "integration.created",
        ]);
        rx.verify_with(&json!({ "s": created["secret"] }));
        db.cli(&["--json", "integration", "create", "--org", "default", "--name", "n", "--scope", "audit:read"]).json();
        // The receiver holds the first delivery open; the sender dies mid-send (SIGKILL).
        let got = rx.wait_for("the held delivery", |g| g.len() == 1);
        let msg = got[0]["id"].as_str().unwrap().to_string();
        drop(first);
        let _second = ServerProcess::start(&db, &settings);
        let got = rx.wait_for("the delivery again", |g| g.iter().any(|r| r["id"] == msg.as_str() && r["status"] == 200));
        assert!(got.iter().all(|r| r["id"] == msg.as_str() && r["verified"]["s"] == true), "{got:#?}");
        wait_delivered(&db, created["id"].as_str().unwrap(), &msg);
    }
}

/// Waits until the endpoint's delivery of event `msg` is delivered; returns it.
fn wait_delivered(db: &TestDb, endpoint: &str, msg: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = db
            .cli(&["--json", "webhook", "deliveries", endpoint])
            .json();
        let found = log
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event_id"] == msg)
            .cloned();
        if let Some(d) = found.filter(|d| d["state"] == "delivered") {
            return d;
        }
        assert!(Instant::now() < deadline, "never delivered: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two instances on one PostgreSQL share the outbox: 200 events, created on both, each
/// delivered exactly once (row claims with `FOR UPDATE SKIP LOCKED`).
#[test]
fn two_instances_deliver_each_of_200_events_exactly_once() {
    let Some(db) = TestDb::postgres() else { return };
    let Some(rx) = Receiver::start() else { return };
    // One issuer for both instances, as behind a load balancer.
    let settings = [
        LOCAL_RECEIVERS.as_slice(),
        &[("TESSERA_ISSUER", "http://tessera.test")],
    ]
    .concat();
    let w = World::with_config(db, &settings);
    let other = ServerProcess::start(&w.db, &settings);
    let api = Api::new(&w, "ada", "integrations:manage webhooks:manage");
    let hook = create_webhook(&api, &rx.url("/ok"), json!(["integration.created"]));
    rx.verify_with(&json!({ "s": hook["secret"] }));
    let bases = [w.server.base.clone(), other.base.clone()];
    std::thread::scope(|s| {
        for t in 0..8 {
            let (bases, bearer) = (&bases, &api.bearer);
            s.spawn(move || {
                let http = Client::new();
                for n in 0..25 {
                    let res = http
                        .post(format!("{}/v1/orgs/acme/integrations", bases[(t + n) % 2]))
                        .bearer_auth(bearer)
                        .json(&json!({"name": format!("i{t}-{n}"), "scopes": ["claims:read"]}))
                        .send()
                        .unwrap();
                    assert_eq!(res.status(), 201);
                }
            });
        }
    });
    let got = rx.wait_for("200 deliveries", |g| {
        g.iter().filter(|r| r["status"] == 200).count() >= 200
    });
    let mut ids: Vec<&str> = got.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let total = ids.len();
    ids.dedup();
    assert_eq!(
        (ids.len(), total),
        (200, 200),
        "every event once, and only once"
    );
    assert!(got.iter().all(|r| r["verified"]["s"] == true));
    // Recorded as delivered, with one attempt each: no instance sent what another had claimed.
    let endpoint = hook["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = webhook_cli(
            &w.db,
            &[
                "--json",
                "webhook",
                "deliveries",
                endpoint,
                "--limit",
                "200",
            ],
        );
        if log
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "delivered")
        {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "not all recorded as delivered: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(log.as_array().unwrap().len(), 200);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|d| d["attempts"].as_array().unwrap().len() == 1)
    );
}
