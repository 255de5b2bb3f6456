//! The OpenAPI contract at `/openapi.json`, against the running server: it is OpenAPI 3.1 by a
//! real validator (PyPI `openapi-spec-validator`), and schemathesis (PyPI) fuzzes every
//! operation with every check on — no server error, and every status, content type, header and
//! body as the document says — on SQLite and PostgreSQL. What schemathesis found stays below as
//! focused regression tests.

use std::process::Command;

use serde_json::Value;

use crate::oauth_support::World;
use crate::on_both_backends;
use crate::support::{TestDb, TestServer};
use crate::webhooks::{LOCAL_RECEIVERS, webhook_cli};

/// Examples per operation and phase: enough to reach every documented answer of every operation,
/// few enough for under a minute per backend on CI's two cores (60 take about 2.5 minutes). `TESSERA_SCHEMATHESIS_EXAMPLES`
/// asks for more (a longer hunt, by hand).
const EXAMPLES: &str = "20";
/// Fixed, so that a failure in CI reproduces on a laptop.
const SEED: &str = "20261129";

fn peers_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import schemathesis, openapi_spec_validator"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("TESSERA_TEST_REQUIRE_PEERS").is_some() {
        panic!(
            "Python with schemathesis and openapi-spec-validator is required \
             (pip install 'schemathesis>=4.32,<5' 'openapi-spec-validator>=0.7,<0.8')"
        );
    }
    if !ok {
        eprintln!(
            "python3 with schemathesis/openapi-spec-validator not available: contract test skipped"
        );
    }
    ok
}

fn document(server: &TestServer) -> Value {
    let res = reqwest::blocking::get(server.url("/openapi.json")).unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    res.json().unwrap()
}

/// Runs the real validator on the served document; panics with its report.
fn validate_openapi_3_1(doc: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import OpenAPIV31SpecValidator, validate\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n\
             print('valid')",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "/openapi.json is not valid OpenAPI 3.1:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Schemathesis against `w`'s server, with a management token, an integration token and a
/// confidential client's credentials for the document's security schemes. Panics with its
/// output when a check fails.
fn schemathesis(w: &World) {
    let bearer = w.management_token("ada", "integrations:manage webhooks:manage audit:read");
    let (_, integration_token) = w.create_integration("contract", &[]);
    // Another integration and a webhook endpoint for the operations on one: schemathesis may
    // rotate, revoke or delete them (the check's token above is not touched).
    let (integration, _) = w.create_integration("fuzzed", &[]);
    let webhook = webhook_cli(
        &w.db,
        &[
            "--json",
            "webhook",
            "create",
            "--org",
            "acme",
            "--url",
            // Nothing listens there: a test delivery fails at once, and is logged.
            "http://127.0.0.1:9/hook",
            "--events",
            "integration.created",
        ],
    );
    let webhook = webhook["id"].as_str().unwrap().to_string();
    // The one DELETE gets, so that the others still find theirs.
    let doomed = webhook_cli(
        &w.db,
        &[
            "--json",
            "webhook",
            "create",
            "--org",
            "acme",
            "--url",
            "http://127.0.0.1:9/doomed",
            "--events",
            "integration.created",
        ],
    );
    let doomed = doomed["id"].as_str().unwrap();
    let (client_id, client_secret) = &w.console;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    // Secrets come from the environment, not the file.
    std::fs::write(
        &config,
        r#"
[auth.openapi.bearer]
bearer = "${TESSERA_ST_BEARER}"

[auth.openapi.api_key]
api_key = "${TESSERA_ST_API_KEY}"

[auth.openapi.client_basic]
username = "${TESSERA_ST_CLIENT_ID}"
password = "${TESSERA_ST_CLIENT_SECRET}"

# The organization the tokens belong to, so that the management API is reached past its
# authorization (a random slug stops at 404).
[parameters]
"path.org" = "acme"

# Existing ones, likewise, for the operations on one integration or endpoint.
[[operations]]
include-operation-id = "delete_webhook"
parameters = { "path.id" = "${TESSERA_ST_DOOMED_WEBHOOK}" }

[[operations]]
include-path-regex = "^/v1/orgs/[{]org[}]/integrations/"
parameters = { "path.id" = "${TESSERA_ST_INTEGRATION}" }

[[operations]]
include-path-regex = "^/v1/orgs/[{]org[}]/webhooks/"
parameters = { "path.id" = "${TESSERA_ST_WEBHOOK}" }

# Schema-valid is not always acceptable: an authorization code, a token, an anti-forgery token,
# a defined scope, a webhook URL that resolves to a permitted address are valid only against
# the server's state, which no schema can say, and Tessera refuses them as RFC 6749 §5.2 and
# the /v1 envelope say: 400 or 422. Any other refusal of schema-valid data (405, 406, 413, 415)
# still fails, and so does a 5xx (here and in not_a_server_error).
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429"]
"#,
    )
    .unwrap();
    let examples =
        std::env::var("TESSERA_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| EXAMPLES.to_string());
    let started = std::time::Instant::now();
    // `python3 -m schemathesis.cli` is its `st` command, from the Python the other peers use.
    let out = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args(["--no-color", "run"])
        .arg(w.server.url("/openapi.json"))
        .args([
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            &examples,
            "--workers",
            "2",
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
        ])
        .current_dir(dir.path())
        .env("TESSERA_ST_BEARER", &bearer)
        .env("TESSERA_ST_API_KEY", &integration_token)
        .env("TESSERA_ST_CLIENT_ID", client_id)
        .env("TESSERA_ST_CLIENT_SECRET", client_secret)
        .env("TESSERA_ST_INTEGRATION", &integration)
        .env("TESSERA_ST_WEBHOOK", &webhook)
        .env("TESSERA_ST_DOOMED_WEBHOOK", doomed)
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // Its warnings (operations it could not get past) and summary, for the CI log.
    let tail = stdout
        .find("=== WARNINGS ===")
        .or_else(|| stdout.find("=== SUMMARY ==="))
        .map_or("", |at| &stdout[at..]);
    eprintln!("schemathesis passed in {:.0?}:\n{tail}", started.elapsed());
}

on_both_backends! {
    fn the_served_document_is_openapi_3_1_and_schemathesis_finds_nothing(db: TestDb) {
        if !peers_available() {
            return;
        }
        // Webhook endpoints on loopback over plain http are allowed, as in the webhook tests.
        let w = World::with_config(db, &LOCAL_RECEIVERS);
        let doc = document(&w.server);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        validate_openapi_3_1(&doc);
        schemathesis(&w);
    }

    // Found by schemathesis: the optional bodies are documented as an object or `null`, and
    // `null` was refused with 400. It means "no options", as an empty body does.
    fn a_null_body_is_no_options_as_the_document_says(db: TestDb) {
        let w = World::new(db);
        let bearer = w.management_token("ada", "integrations:manage");
        let (id, _) = w.create_integration("nullable", &[]);
        for action in ["rotate", "expire"] {
            let res = w
                .app()
                .post(w.server.url(&format!("/v1/orgs/acme/integrations/{id}/{action}")))
                .bearer_auth(&bearer)
                .header("content-type", "application/json")
                .body("null")
                .send()
                .unwrap();
            let status = res.status();
            let body: Value = res.json().unwrap();
            assert_eq!(status, 200, "{action}: {body}");
            assert_eq!(body["id"], id.as_str(), "{action}: {body}");
        }
        // Something that is neither an object nor null is still refused, in the envelope.
        let res = w
            .app()
            .post(w.server.url(&format!("/v1/orgs/acme/integrations/{id}/rotate")))
            .bearer_auth(&bearer)
            .header("content-type", "application/json")
            .body("[]")
            .send()
            .unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().unwrap()["error"]["code"], "invalid_request");
    }
}

/// Found by schemathesis: a sign-out without a body was answered 200, where the document said
/// a body was required. It is an empty form (no session to end), so the document now says the
/// body is optional; this holds the server to that.
#[test]
fn a_sign_out_without_a_body_is_an_empty_form() {
    let db = TestDb::sqlite();
    let server = TestServer::start(db.config());
    let res = server
        .client()
        .post(server.url("/oauth/logout"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().unwrap().contains("Signed out"));
    let doc = document(&server);
    assert_eq!(
        doc["paths"]["/oauth/logout"]["post"]["requestBody"]["required"],
        false
    );
}

/// Without the peers too: the document is served, names OpenAPI 3.1 and the issuer's URLs.
#[test]
fn openapi_json_is_served_as_3_1() {
    let db = TestDb::sqlite();
    let server = TestServer::start(db.config());
    let doc = document(&server);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"];
    assert_eq!(flow["tokenUrl"], server.url("/oauth/token"));
    assert!(doc["paths"]["/v1/orgs/{org}/integrations"]["post"].is_object());
}
