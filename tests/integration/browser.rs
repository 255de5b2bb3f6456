//! The console in a real browser: `tests/browser/console.mjs` drives Debian's headless Chromium
//! (`/usr/bin/chromium`) with playwright-core against the real server, signed in as acme's admin
//! — create an integration token, read it from the one-time page, use it on `/v1/check`, rotate
//! it with a grace period, revoke it, confirm each state on the list, visit every console page —
//! and checks each page with axe-core (no serious or critical violation). Its screenshots go to
//! `$TESSERA_SCREENSHOTS/console-<backend>` (default `target/screenshots` in this checkout),
//! which `.ci/run` lists in CI's log.
//!
//! Peers: node, the npm packages of `tests/browser` (`npm ci` there, with
//! `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1`) and Debian's `chromium`. Without them the test says it
//! was skipped, unless `TESSERA_TEST_REQUIRE_PEERS` asks for them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::oauth_support::{PASSWORD, World};
use crate::on_both_backends;
use crate::support::TestDb;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole run, sign-in to sign-out, takes well under a minute; a hung browser must not hang
/// the suite.
const DEADLINE: Duration = Duration::from_secs(300);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// What is missing to run the browser test, if anything.
fn missing_peers() -> Vec<String> {
    let mut missing = Vec::new();
    if !Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        missing.push("node (Node.js 20 or later)".to_string());
    }
    for package in ["playwright-core", "@axe-core/playwright", "axe-core"] {
        let manifest = browser_dir()
            .join("node_modules")
            .join(package)
            .join("package.json");
        if !manifest.exists() {
            missing.push(format!(
                "the npm package {package} (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)"
            ));
        }
    }
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (apt-get install chromium)"));
    }
    missing
}

fn peers_available() -> bool {
    let missing = missing_peers();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("TESSERA_TEST_REQUIRE_PEERS").is_some() {
        panic!(
            "the browser test needs what is missing: {}",
            missing.join("; ")
        );
    }
    eprintln!("browser test skipped; missing: {}", missing.join("; "));
    false
}

/// Where this backend's screenshots go, emptied of an earlier run's.
fn screenshot_dir(backend: &str) -> PathBuf {
    let root = std::env::var_os("TESSERA_SCREENSHOTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"),
        PathBuf::from,
    );
    let dir = root.join(format!("console-{backend}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clear the screenshot folder");
    }
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    dir
}

/// Runs the browser script against `w`'s server as `user`; panics with its output on failure.
fn run_console_script(w: &World, user: &str, org_name: &str, shots: &Path) {
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = Command::new("node")
        .arg("console.mjs")
        .current_dir(browser_dir())
        .env("TESSERA_BASE_URL", &w.server.base)
        .env("TESSERA_ADMIN_USERNAME", user)
        .env("TESSERA_ADMIN_PASSWORD", PASSWORD)
        .env("TESSERA_ORG_NAME", org_name)
        .env("TESSERA_SCREENSHOTS", shots)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run node tests/browser/console.mjs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    println!("--- tests/browser/console.mjs ---\n{stdout}{stderr}--- end ---");
    let Some(status) = status else {
        panic!(
            "the browser test did not finish within {DEADLINE:?} (its output is above); screenshots in {}",
            shots.display()
        );
    };
    assert!(
        status.success(),
        "the browser test failed ({status}; its output is above); screenshots in {}",
        shots.display()
    );
    assert!(
        stdout.contains("console test passed"),
        "the browser script exited 0 without saying it passed:\n{stdout}{stderr}"
    );
}

/// Asserts the run left a PNG for each page it visited.
fn assert_screenshots(shots: &Path) {
    let pngs: Vec<String> = std::fs::read_dir(shots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".png"))
        .collect();
    for page in [
        "sign-in",
        "integrations",
        "integration-new",
        "integration-created-token-once",
        "integrations-active",
        "integration-rotate",
        "integration-details-grace",
        "integration-revoke",
        "integrations-revoked",
        "oauth-clients",
        "members",
        "audit-log",
        "account",
    ] {
        assert!(
            pngs.iter().any(|name| name
                .split_once('-')
                .is_some_and(|(_, rest)| rest == format!("{page}.png"))),
            "no screenshot of {page} in {}: {pngs:?}",
            shots.display()
        );
    }
}

fn console_in_browser(db: TestDb, backend: &str) {
    if !peers_available() {
        return;
    }
    let w = World::new(db);
    let shots = screenshot_dir(backend);
    run_console_script(&w, "ada", "Acme Inc", &shots);
    assert_screenshots(&shots);
}

on_both_backends! {
    fn admin_creates_rotates_and_revokes_a_token_in_chromium_with_axe(db: TestDb) {
        let backend = if db.url.starts_with("sqlite") { "sqlite" } else { "postgres" };
        console_in_browser(db, backend);
    }
}
