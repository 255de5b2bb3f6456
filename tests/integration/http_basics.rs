//! Health, readiness, first-run bootstrap, logging hygiene and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use diesel::prelude::*;

use crate::on_both_backends;
use crate::support::{TestDb, TestServer};

on_both_backends! {
    fn health_and_readiness_answer(db: TestDb) {
        let server = TestServer::start(db.config());
        let http = server.client();
        let res = http.get(server.url("/healthz")).send().unwrap();
        assert_eq!(res.status(), 200);
        let res = http.get(server.url("/readyz")).send().unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<serde_json::Value>().unwrap()["status"], "ready");
    }

    fn head_answers_like_get_and_a_wrong_method_names_the_allowed_ones(db: TestDb) {
        let server = TestServer::start(db.config());
        let http = server.client();
        // RFC 9110 §9.3.2: HEAD is GET without the body — same status, same headers.
        for path in ["/healthz", "/readyz", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json", "/v1/check"] {
            let get = http.get(server.url(path)).send().unwrap();
            let head = http.head(server.url(path)).send().unwrap();
            assert_eq!(head.status(), get.status(), "{path}");
            for name in ["content-type", "cache-control", "www-authenticate"] {
                assert_eq!(head.headers().get(name), get.headers().get(name), "{name} of {path}");
            }
            assert!(head.bytes().unwrap().is_empty(), "{path}");
        }
        // RFC 9110 §15.5.6: a known path asked with another method is 405 with Allow.
        for (method, path, allow) in [
            ("DELETE", "/healthz", "GET, HEAD"),
            ("POST", "/.well-known/jwks.json", "GET, HEAD, OPTIONS"),
            ("GET", "/oauth/token", "POST, OPTIONS"),
            ("PUT", "/oauth/authorize", "GET, HEAD, POST"),
            ("DELETE", "/v1/check", "GET, HEAD, POST"),
            ("DELETE", "/v1/orgs/acme/integrations/x", "GET, HEAD, PATCH"),
            ("GET", "/v1/orgs/acme/integrations/x/revoke", "POST"),
        ] {
            let res = http.request(method.parse().unwrap(), server.url(path)).send().unwrap();
            assert_eq!(res.status(), 405, "{method} {path}");
            assert_eq!(res.headers()["allow"], allow, "{method} {path}");
            let body: serde_json::Value = res.json().unwrap();
            assert_eq!(body["error"]["code"], "method_not_allowed");
        }
        // An unknown path is still 404.
        assert_eq!(http.get(server.url("/nope")).send().unwrap().status(), 404);
    }

    fn first_start_creates_one_owner_and_later_starts_do_not(db: TestDb) {
        drop(TestServer::start(db.config()));
        drop(TestServer::start(db.config()));
        use tessera::store::schema::{memberships, organizations, users};
        let mut conn = db.conn();
        let rows: Vec<(String, String, String)> = users::table
            .inner_join(memberships::table.inner_join(organizations::table))
            .select((users::username, organizations::slug, memberships::role))
            .load(&mut *conn)
            .unwrap();
        assert_eq!(rows, vec![("admin".into(), "default".into(), "owner".into())]);
        let hash: String = users::table.select(users::password_hash).first(&mut *conn).unwrap();
        assert!(tessera::passwords::verify(crate::support::ADMIN_PASSWORD, &hash));
    }
}

#[test]
fn readiness_fails_when_postgresql_goes_away() {
    let Some(db) = TestDb::postgres() else { return };
    let server = TestServer::start(db.config());
    let http = server.client();
    assert_eq!(
        http.get(server.url("/readyz")).send().unwrap().status(),
        200
    );
    drop(db); // DROP DATABASE … WITH (FORCE): every pooled connection is cut.
    let res = http.get(server.url("/readyz")).send().unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<serde_json::Value>().unwrap()["error"]["code"],
        "unavailable"
    );
    assert_eq!(
        http.get(server.url("/healthz")).send().unwrap().status(),
        200
    );
}

/// Runs the real binary: it prints its generated admin password once, logs requests without
/// secrets, and shuts down cleanly on SIGTERM.
#[test]
fn serve_binary_bootstraps_logs_safely_and_stops_on_sigterm() {
    let db = TestDb::sqlite();
    let mut child = Command::new(crate::support::tessera_bin())
        .arg("serve")
        .env("TESSERA_DATABASE_URL", &db.url)
        .env("TESSERA_BIND", "127.0.0.1:0")
        .env("TESSERA_METRICS_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("tessera listening addr=").nth(1) {
            break rest.trim().to_string();
        }
    };
    let http = reqwest::blocking::Client::new();
    let res = http
        .get(format!(
            "http://{addr}/.well-known/jwks.json?api_key=tsr_live_SECRETSECRET"
        ))
        .header("Authorization", "Bearer super-secret-bearer")
        .header("Cookie", "tessera_session=secret-cookie")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    for line in lines {
        log.push_str(&line.unwrap());
        log.push('\n');
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();

    assert!(
        stdout.contains("Password (shown only this once)"),
        "{stdout}"
    );
    // Where to use it: the console, at the address the server listens on.
    assert!(
        stdout.contains(&format!("Console: http://{addr}/")),
        "{stdout}"
    );
    assert!(
        !log.contains("Password"),
        "the generated password must not reach the logs"
    );
    assert!(
        log.contains("path=/.well-known/jwks.json status=200"),
        "{log}"
    );
    for secret in [
        "SECRETSECRET",
        "super-secret-bearer",
        "secret-cookie",
        "api_key",
    ] {
        assert!(!log.contains(secret), "log leaks {secret}: {log}");
    }
    assert!(log.contains("SIGTERM: draining"), "{log}");
}
