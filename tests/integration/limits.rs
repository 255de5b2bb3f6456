//! Brute-force limits and resource bounds: the sign-in ladder and lockout (per account, shared
//! by instances on one database; per source address), client-authentication failures, the
//! management API's per-caller rate, stalled request bodies, and draining on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::blocking::Client as Http;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;

use crate::metrics::{grew, scrape};
use crate::oauth_support::{Form, PASSWORD, REDIRECT, World};
use crate::on_both_backends;
use crate::support::{ServerProcess, TestDb};

const GUESSER: &str = "203.0.113.7";
/// The per-address limit (tested apart) raised so that it does not cut in first, and a first
/// wait long enough that no machine is too slow to meet it.
const LADDER: [(&str, &str); 2] = [
    ("TESSERA_SIGN_IN_IP_LIMIT", "1000/10m"),
    ("TESSERA_SIGN_IN_FIRST_DELAY", "30s"),
];
const OWNER: &str = "198.51.100.20";

/// A browser: cookies kept, redirects not followed.
fn browser() -> Http {
    Http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A sign-in form of the server at `base`, fetched by `browser` (which keeps its cookie).
fn sign_in_form(browser: &Http, base: &str, client_id: &str) -> Form {
    let url = format!(
        "{base}/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={REDIRECT}\
         &scope=claims%3Aread&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeKiY2BF61VqI3QwNuWs\
         &code_challenge_method=S256"
    );
    let res = browser.get(url).send().unwrap();
    assert_eq!(res.status(), 200);
    let form = Form::parse(&res.text().unwrap());
    assert_eq!(form.action, "/oauth/login");
    form
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    page: String,
}

fn attempt(
    browser: &Http,
    base: &str,
    form: &Form,
    user: &str,
    password: &str,
    ip: &str,
) -> Answer {
    let form = Form {
        action: form.action.clone(),
        fields: form.fields.clone(),
    }
    .with("username", user)
    .with("password", password);
    let res = browser
        .post(format!("{base}{}", form.action))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-forwarded-for", ip)
        .body(serde_urlencoded::to_string(&form.fields).unwrap())
        .send()
        .unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    Answer {
        status,
        retry_after,
        page: res.text().unwrap(),
    }
}

fn audit_actions(db: &TestDb, org: &str) -> Vec<(String, String)> {
    let events = db
        .cli(&["--json", "audit", "list", "--org", org, "--limit", "500"])
        .json()["events"]
        .clone();
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// 200 wrong passwords for one user from one address, sent to `servers` in turn: answered
/// normally at first, then 429 with `Retry-After`, then a lockout the right password does not
/// pass; the audit log shows it and `tessera user unlock` ends it.
fn guess_until_locked(db: &TestDb, servers: &[String], client_id: &str) {
    let browsers: Vec<(Http, Form)> = servers
        .iter()
        .map(|base| {
            let b = browser();
            let form = sign_in_form(&b, base, client_id);
            (b, form)
        })
        .collect();
    let mut answers = Vec::new();
    for i in 0..200 {
        let n = i % servers.len();
        let (browser, form) = &browsers[n];
        answers.push(attempt(
            browser,
            &servers[n],
            form,
            "alice",
            "wrong-guess",
            GUESSER,
        ));
    }
    for (i, a) in answers.iter().enumerate().take(5) {
        assert_eq!(a.status, 401, "attempt {}: {}", i + 1, a.page);
        assert!(a.page.contains("Invalid username or password"));
    }
    for (i, a) in answers.iter().enumerate().skip(5) {
        assert_eq!(a.status, 429, "attempt {} must wait", i + 1);
        assert!(a.retry_after.is_some_and(|s| s >= 1), "attempt {}", i + 1);
    }
    assert!(answers[5].page.contains("Wait"), "{}", answers[5].page);
    assert!(
        !answers[48].page.contains("locked"),
        "attempt 49 is not yet locked"
    );
    assert!(answers[49].page.contains("locked"), "attempt 50 locks");
    assert!(
        answers[49].retry_after.unwrap() > 3000,
        "the lockout lasts an hour"
    );

    // The right password, from the owner's own address, during the lockout.
    let (browser, form) = &browsers[0];
    let right = attempt(browser, &servers[0], form, "alice", PASSWORD, OWNER);
    assert_eq!(
        right.status, 429,
        "locked: the right password does not sign in"
    );
    assert!(right.page.contains("locked"));

    let actions = audit_actions(db, "acme");
    let failed = actions
        .iter()
        .filter(|(a, t)| a == "user.sign_in_failed" && t == "alice")
        .count();
    assert_eq!(failed, 5, "each checked failure is audited: {actions:?}");
    let locked = actions
        .iter()
        .filter(|(a, t)| a == "user.locked" && t == "alice")
        .count();
    assert_eq!(locked, 1, "the lockout is audited once: {actions:?}");

    let unlocked = db.cli(&["--json", "user", "unlock", "alice"]).json();
    assert_eq!(unlocked["was_locked"], true, "{unlocked}");
    assert_eq!(
        unlocked["failures"], 50,
        "attempts during the lockout are not counted"
    );
    assert!(audit_actions(db, "acme").contains(&("user.unlocked".into(), "alice".into())));

    for (n, base) in servers.iter().enumerate() {
        let (browser, form) = &browsers[n];
        let ok = attempt(browser, base, form, "alice", PASSWORD, OWNER);
        assert_eq!(ok.status, 303, "unlocked, on instance {n}: {}", ok.page);
    }
    let again = db.cli(&["--json", "user", "unlock", "alice"]).json();
    assert_eq!(again["was_locked"], false);
}

on_both_backends! {
    fn wrong_passwords_are_slowed_then_locked_out_until_unlocked(db: TestDb) {
        let w = World::with_config(db, &LADDER);
        guess_until_locked(&w.db, std::slice::from_ref(&w.server.base), &w.public_id);
    }

    fn a_username_that_does_not_exist_is_throttled_alike(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let form = sign_in_form(&browser, &w.server.base, &w.public_id);
        let statuses: Vec<(u16, u16)> = (0..8)
            .map(|_| {
                let real = attempt(&browser, &w.server.base, &form, "alice", "nope", GUESSER);
                let ghost = attempt(&browser, &w.server.base, &form, "nobody", "nope", GUESSER);
                (real.status, ghost.status)
            })
            .collect();
        for (real, ghost) in &statuses {
            assert_eq!(real, ghost, "the same answers whether or not the account exists: {statuses:?}");
        }
        assert_eq!(statuses[5], (429, 429));
    }

    fn one_address_guessing_across_accounts_is_cut_off(db: TestDb) {
        let w = World::with_config(db, &[("TESSERA_SIGN_IN_IP_LIMIT", "10/10m")]);
        let browser = w.browser();
        let form = sign_in_form(&browser, &w.server.base, &w.public_id);
        let before = scrape(&w.server);
        // One wrong guess for each of many usernames: no account reaches its own limit.
        let statuses: Vec<u16> = (0..14)
            .map(|i| attempt(&browser, &w.server.base, &form, &format!("user{i}"), "x", GUESSER).status)
            .collect();
        assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
        assert_eq!(&statuses[10..], &[429; 4], "{statuses:?}");
        let after = scrape(&w.server);
        let limited = [("limit", "sign_in_address")];
        assert!(grew(&before, &after, "tessera_rate_limited_total", &limited) >= 4.0);
        assert!(grew(&before, &after, "tessera_sign_in_failures_total", &[]) >= 10.0);
        // Another address still signs in.
        let ok = attempt(&browser, &w.server.base, &form, "alice", PASSWORD, OWNER);
        assert_eq!(ok.status, 303, "{}", ok.page);
    }

    fn failed_client_authentication_is_limited_per_address_and_per_client(db: TestDb) {
        let w = World::with_config(db, &[("TESSERA_CLIENT_AUTH_LIMIT", "5/1m")]);
        let http = w.app();
        let revoke = |secret: &str, ip: &str| {
            let res = http
                .post(w.server.url("/oauth/revoke"))
                .basic_auth(&w.client_id, Some(secret))
                .header("x-forwarded-for", ip)
                .form(&[("token", "tsr_rt_unknown")])
                .send()
                .unwrap();
            let status = res.status().as_u16();
            let retry = res.headers().get(RETRY_AFTER).is_some();
            let body: Value = res.json().unwrap_or(Value::Null);
            (status, retry, body)
        };
        for _ in 0..5 {
            let (status, _, body) = revoke("wrong", GUESSER);
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["error"], "invalid_client");
        }
        let (status, retry, body) = revoke("wrong", GUESSER);
        assert_eq!(status, 429, "{body}");
        assert!(retry);
        assert_eq!(body["error"], "too_many_requests");
        // The address is refused before anything is checked, the right secret too.
        assert_eq!(revoke(&w.client_secret, GUESSER).0, 429);
        // From elsewhere: the client's right secret works; wrong ones meet the client's limit.
        assert_eq!(revoke(&w.client_secret, OWNER).0, 200);
        assert_eq!(revoke("wrong", OWNER).0, 429, "the client is over its failure budget");
        assert_eq!(revoke(&w.client_secret, OWNER).0, 200, "its right secret still works");
    }

    fn the_management_api_limits_each_user_and_each_address_with_bad_tokens(db: TestDb) {
        let w = World::with_config(
            db,
            &[("TESSERA_MANAGEMENT_RATE_LIMIT", "3/1m"), ("TESSERA_CLIENT_AUTH_LIMIT", "4/1m")],
        );
        let token = w.management_token("ada", "integrations:manage");
        let second = w.management_token("ada", "integrations:manage");
        let http = w.app();
        let get = |path: &str, token: &str, ip: &str| {
            http.get(w.server.url(path))
                .bearer_auth(token)
                .header("x-forwarded-for", ip)
                .send()
                .unwrap()
        };
        let list = "/v1/orgs/acme/integrations";
        for _ in 0..2 {
            assert_eq!(get(list, &token, OWNER).status(), 200);
        }
        assert_eq!(get(list, &second, OWNER).status(), 200, "one budget per user");
        let res = get(list, &second, OWNER);
        assert_eq!(res.status(), 429, "a fresh token is not a fresh budget");
        let wait: u64 = res.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&wait), "{wait}");
        let body: Value = res.json().unwrap();
        assert_eq!(body["error"]["code"], "too_many_requests");
        let mona = w.management_token("mona", "webhooks:manage");
        assert_eq!(get("/v1/orgs/acme/webhooks", &mona, OWNER).status(), 200, "another user has their own");

        // Made-up bearers: refused, then the address is cut off before any look-up.
        for i in 0..4 {
            assert_eq!(get(list, &format!("guess-{i}"), GUESSER).status(), 401);
        }
        let res = get(list, "guess-4", GUESSER);
        assert_eq!(res.status(), 429);
        assert_eq!(get(list, &mona, GUESSER).status(), 429, "the address waits");
    }

    fn parallel_guesses_cannot_all_pass_the_gate(db: TestDb) {
        let w = World::with_config(db, &LADDER);
        let forms: Vec<(Http, Form)> = (0..12)
            .map(|_| {
                let b = browser();
                let form = sign_in_form(&b, &w.server.base, &w.public_id);
                (b, form)
            })
            .collect();
        let base = w.server.base.clone();
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = forms
                .iter()
                .map(|(b, form)| {
                    let base = base.clone();
                    s.spawn(move || attempt(b, &base, form, "ada", "wrong-guess", GUESSER).status)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let waited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((checked, waited), (5, 7), "only the free failures are checked: {statuses:?}");
    }

    fn a_lockout_ends_when_it_says_and_the_count_starts_afresh(db: TestDb) {
        let w = World::with_config(
            db,
            &[
                ("TESSERA_SIGN_IN_FREE_FAILURES", "2"),
                ("TESSERA_SIGN_IN_LOCKOUT_AFTER", "3"),
                ("TESSERA_SIGN_IN_LOCKOUT_DURATION", "2s"),
            ],
        );
        let b = browser();
        let form = sign_in_form(&b, &w.server.base, &w.public_id);
        let statuses: Vec<u16> = (0..3)
            .map(|_| attempt(&b, &w.server.base, &form, "alice", "wrong", GUESSER).status)
            .collect();
        assert_eq!(statuses, [401, 401, 429]);
        // Guessing on during the lockout does not prolong it: the owner's right password
        // works as soon as it ends.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // 429 while locked; once it has ended, a wrong guess is checked again (401).
            let guess = attempt(&b, &w.server.base, &form, "alice", "wrong", GUESSER).status;
            assert!(guess == 429 || guess == 401, "{guess}");
            let ok = attempt(&b, &w.server.base, &form, "alice", PASSWORD, OWNER);
            if ok.status == 303 {
                break;
            }
            assert_eq!(ok.status, 429, "{}", ok.page);
            assert!(Instant::now() < deadline, "the lockout did not end");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn a_stalled_request_body_is_cut_off(db: TestDb) {
        let w = World::with_config(db, &[("TESSERA_BODY_TIMEOUT", "300ms")]);
        let addr = w.server.base.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            stream,
            "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="
        )
        .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("invalid_request"), "{answer}");
    }

    fn two_instances_share_the_account_counter(db: TestDb) {
        if !db.url.starts_with("postgres") {
            // SQLite serves one instance; the single-instance test covers it.
            return;
        }
        let w = World::new(db);
        let a = ServerProcess::start(&w.db, &LADDER);
        let b = ServerProcess::start(&w.db, &LADDER);
        guess_until_locked(&w.db, &[a.base.clone(), b.base.clone()], &w.public_id);
    }
}

/// SIGTERM with an idle keep-alive connection open and a request in flight: the request is
/// answered with `Connection: close`, and the process exits as soon as it is, not at the
/// 10-second deadline.
#[test]
fn sigterm_drains_in_flight_requests_then_exits_at_once() {
    let db = TestDb::sqlite();
    let mut server = ServerProcess::start(&db, &[]);
    let http = Http::new();
    assert_eq!(
        http.get(server.url("/healthz")).send().unwrap().status(),
        200
    );
    // `http` keeps that connection open, idle.
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut in_flight = TcpStream::connect(&addr).unwrap();
    in_flight.set_nodelay(true).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // One whole exchange first, so the connection is surely accepted before the signal.
    in_flight
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\"ok\"") {
        let n = in_flight.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let body = "token=tsr_rt_x";
    // The whole head in one segment: the server has it before the signal is even sent.
    let head = format!(
        "POST /oauth/revoke HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\ntoken=",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).unwrap();
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("draining") {
        assert!(Instant::now() < deadline, "no drain: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    in_flight
        .write_all(&body.as_bytes()["token=".len()..])
        .unwrap_or_else(|e| panic!("{e}: {}", server.log()));
    let mut answer = String::new();
    let _ = in_flight.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "answered: {answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}: {}", server.log());
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "still running though nothing is in flight: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(http);
}
