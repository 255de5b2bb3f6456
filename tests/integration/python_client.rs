//! A real third-party client library — Python's Authlib — completes the flow with PKCE and
//! refresh against a running server, and verifies the access token with the JWKS alone.

use std::process::Command;

use crate::oauth_support::{PASSWORD, REDIRECT, World};
use crate::support::TestDb;

fn authlib_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import authlib, requests"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("TESSERA_TEST_REQUIRE_PEERS").is_some() {
        panic!("Python with authlib and requests is required (pip install authlib requests)");
    }
    if !ok {
        eprintln!("python3 with authlib/requests not available: third-party client test skipped");
    }
    ok
}

#[test]
fn authlib_completes_the_code_flow_with_pkce_and_refresh() {
    if !authlib_available() {
        return;
    }
    let w = World::new(TestDb::sqlite());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/authlib_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            &w.server.base,
            &w.client_id,
            &w.client_secret,
            REDIRECT,
            "alice",
            PASSWORD,
        ])
        // Authlib refuses plain-http token endpoints unless told this is a test.
        .env("AUTHLIB_INSECURE_TRANSPORT", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "authlib client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(r#""ok": true"#), "{stdout}");
}
