//! A PostgreSQL outage (issue 14, "fail fast"): requests that need the database answer 503 with
//! `Retry-After` at once instead of waiting out the pool, a database that comes back is used
//! again without a restart, and `tessera serve` waits at start-up for a database that is not
//! up yet. PostgreSQL only: each test does nothing when `TESSERA_TEST_POSTGRES_URL` is unset.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use reqwest::blocking::Client;

use crate::oauth_support::World;
use crate::support::{ADMIN_PASSWORD, TestDb, TestServer};

/// The bound on a 503 while the database is known to be down.
const FAST: Duration = Duration::from_millis(500);

fn admin() -> PgConnection {
    let url = std::env::var("TESSERA_TEST_POSTGRES_URL").expect("TESSERA_TEST_POSTGRES_URL");
    PgConnection::establish(&url).expect("admin connection")
}

fn db_name(db: &TestDb) -> String {
    let url = url::Url::parse(&db.url).expect("database URL");
    url.path().trim_start_matches('/').to_string()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Makes PostgreSQL refuse new connections to the test database and ends the open ones, then
/// waits until they are gone (termination is asynchronous).
fn refuse_connections(db: &TestDb) {
    let name = db_name(db);
    let mut admin = admin();
    diesel::sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open: Count = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .get_result(&mut admin)
        .unwrap();
        if open.n == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{} backends still open", open.n);
        thread::sleep(Duration::from_millis(10));
    }
}

fn allow_connections(db: &TestDb) {
    diesel::sql_query(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db_name(db)
    ))
    .execute(&mut admin())
    .unwrap();
}

/// Sends `req` and checks that it answers 503 with `Retry-After` within [`FAST`]; returns how
/// long it took.
#[track_caller]
fn fast_503(what: &str, req: reqwest::blocking::RequestBuilder) -> Duration {
    let started = Instant::now();
    let res = req.send().unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 503, "{what}");
    assert!(
        res.headers().get("retry-after").is_some(),
        "{what}: no Retry-After"
    );
    assert!(took < FAST, "{what} answered 503 after {took:?}");
    took
}

/// Polls `/readyz` until it answers 200; returns how long that took.
fn ready_within(client: &Client, base: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(res) = client.get(format!("{base}/readyz")).send() {
            if res.status() == 200 {
                return started.elapsed();
            }
        }
        assert!(started.elapsed() < limit, "/readyz not 200 after {limit:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn readyz_and_a_check_miss_answer_503_at_once_while_postgresql_is_gone() {
    let Some(db) = TestDb::postgres() else { return };
    // No cache: every check is a look-up in the store.
    let w = World::with_config(db, &[("TESSERA_CHECK_CACHE_TTL", "0s")]);
    let (_, token) = w.create_integration("Outage test", &[]);
    let World { server, db, .. } = w;
    let client = Client::new();
    let check = || client.get(server.url("/v1/check")).bearer_auth(&token);
    assert_eq!(check().send().unwrap().status(), 200);
    assert_eq!(
        client.get(server.url("/readyz")).send().unwrap().status(),
        200
    );
    // DROP DATABASE … WITH (FORCE) under the running server.
    drop(db);
    let mut took = Vec::new();
    for _ in 0..5 {
        took.push(fast_503("/readyz", client.get(server.url("/readyz"))));
        took.push(fast_503("/v1/check", check()));
    }
    eprintln!("503 latencies with the database dropped (/readyz, /v1/check alternating): {took:?}");
}

#[test]
fn a_database_that_comes_back_is_used_again_without_a_restart() {
    let Some(db) = TestDb::postgres() else { return };
    let server = TestServer::start(db.config());
    let client = Client::new();
    assert_eq!(
        client.get(server.url("/readyz")).send().unwrap().status(),
        200
    );
    refuse_connections(&db);
    let took: Vec<Duration> = (0..8)
        .map(|_| fast_503("/readyz", client.get(server.url("/readyz"))))
        .collect();
    eprintln!("503 latencies while connections are refused: {took:?}");
    allow_connections(&db);
    let back = ready_within(&client, &server.base, Duration::from_secs(5));
    eprintln!("/readyz 200 again {back:?} after connections were allowed");
    // And it stays up: the connections it has now work.
    for _ in 0..3 {
        assert_eq!(
            client.get(server.url("/readyz")).send().unwrap().status(),
            200
        );
    }
}

/// A `tessera serve` process whose log is collected as it runs.
struct Serve {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Serve {
    fn spawn(db: &TestDb, startup_wait: &str) -> Serve {
        let mut child = Command::new(crate::support::tessera_bin())
            .arg("serve")
            .env("TESSERA_DATABASE_URL", &db.url)
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_METRICS_BIND", "127.0.0.1:0")
            .env("TESSERA_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TESSERA_DB_STARTUP_WAIT", startup_wait)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tessera serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Serve { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `needle`; returns that line.
    fn wait_for_line(&self, needle: &str, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                started.elapsed() < limit,
                "no {needle:?} in the log after {limit:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_waits_for_a_database_that_refuses_connections_at_start_up() {
    let Some(db) = TestDb::postgres() else { return };
    refuse_connections(&db);

    // No wait allowed: it gives up at once, with a non-zero status.
    let started = Instant::now();
    let mut impatient = Serve::spawn(&db, "0s");
    let status = loop {
        if let Some(status) = impatient.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running with TESSERA_DB_STARTUP_WAIT=0s:\n{}",
            impatient.log()
        );
        thread::sleep(Duration::from_millis(10));
    };
    let gave_up_after = started.elapsed();
    assert!(!status.success(), "{status:?}");
    assert!(
        gave_up_after < Duration::from_secs(3),
        "gave up after {gave_up_after:?}"
    );
    assert!(!impatient.log().contains("retrying"), "{}", impatient.log());

    // With a wait: it retries, logging why (never the URL), and serves once the database
    // accepts connections.
    let patient = Serve::spawn(&db, "30s");
    let retry = patient.wait_for_line("retrying", Duration::from_secs(10));
    assert!(retry.contains("WARN"), "{retry}");
    assert!(
        retry.contains("not currently accepting connections"),
        "the cause is logged: {retry}"
    );
    assert!(!patient.log().contains(&db.url), "{}", patient.log());
    allow_connections(&db);
    let listening = patient.wait_for_line("tessera listening addr=", Duration::from_secs(15));
    let addr = listening
        .split("tessera listening addr=")
        .nth(1)
        .unwrap()
        .trim();
    let res = Client::new()
        .get(format!("http://{addr}/readyz"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
}
