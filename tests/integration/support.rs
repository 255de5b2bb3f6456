//! Test fixtures: a fresh database per test (temp SQLite file, or a new PostgreSQL database),
//! the real server in-process on a random port, and the real CLI binary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use serde_json::Value;
use tessera::config::Config;

/// The `tessera` binary the tests run: this build's, unless `TESSERA_TEST_BIN` names another
/// (a build directory shared by several checkouts holds one `target/debug/tessera` for all).
pub(crate) fn tessera_bin() -> std::path::PathBuf {
    std::env::var_os("TESSERA_TEST_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_tessera").into())
}

pub(crate) const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A database of its own for one test; dropped (PostgreSQL) or deleted (SQLite) at the end.
pub(crate) struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub(crate) fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path: PathBuf = dir.path().join("tessera.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh database on the server named by `TESSERA_TEST_POSTGRES_URL`, or `None` when
    /// that variable is unset (the PostgreSQL variants of the tests then do nothing).
    pub(crate) fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("TESSERA_TEST_POSTGRES_URL").ok()?;
        let name = format!(
            "tessera_test_{}",
            tessera::tokens::secret::random_base62(12).to_lowercase()
        );
        let mut conn =
            PgConnection::establish(&admin_url).expect("connect to TESSERA_TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create test database");
        let url = replace_database(&admin_url, &name);
        Some(TestDb {
            url,
            _dir: None,
            pg: Some((admin_url, name)),
        })
    }

    /// Settings for a server on this database: random port, known admin password.
    pub(crate) fn config(&self) -> Config {
        self.config_with(&[])
    }

    pub(crate) fn config_with(&self, extra: &[(&str, &str)]) -> Config {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("TESSERA_DATABASE_URL".into(), self.url.clone());
        vars.insert("TESSERA_BIND".into(), "127.0.0.1:0".into());
        vars.insert(
            "TESSERA_BOOTSTRAP_ADMIN_PASSWORD".into(),
            ADMIN_PASSWORD.into(),
        );
        vars.insert("TESSERA_DB_POOL_SIZE".into(), "4".into());
        vars.insert("TESSERA_WORKERS".into(), "2".into());
        // Metrics on a random port too: tests run in parallel.
        vars.insert("TESSERA_METRICS_BIND".into(), "127.0.0.1:0".into());
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        Config::from_vars(&|name| vars.get(name).cloned()).expect("test config")
    }

    /// Runs the real `tessera` binary against this database.
    pub(crate) fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with_stdin(args, None)
    }

    pub(crate) fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        self.cli_with_env(args, stdin, &[])
    }

    /// The CLI with settings of its own (`TESSERA_*`), as an operator's environment has them.
    pub(crate) fn cli_with_env(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> CliOutput {
        let mut cmd = Command::new(tessera_bin());
        cmd.args(args)
            .envs(env.iter().copied())
            .env("TESSERA_DATABASE_URL", &self.url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run tessera");
        {
            use std::io::Write;
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                // A command that refuses its arguments exits before reading stdin.
                match input.write_all(text.as_bytes()) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    other => other.expect("write stdin"),
                }
            }
        }
        CliOutput(child.wait_with_output().expect("tessera output"))
    }

    /// A direct connection for inspecting what the product stored.
    pub(crate) fn conn(&self) -> tessera::store::Conn {
        let db =
            tessera::store::Db::connect(&tessera::store::DatabaseUrl::parse(&self.url).unwrap(), 1)
                .unwrap();
        db.conn().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("postgres URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

pub(crate) struct CliOutput(pub Output);

impl CliOutput {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// The one JSON value a successful `--json` command prints.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        assert_eq!(
            self.code(),
            0,
            "command failed ({:?}): {}",
            self.0.status,
            self.stderr()
        );
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout()))
    }

    #[track_caller]
    pub(crate) fn assert_input_error(&self, needle: &str) {
        assert_eq!(
            self.code(),
            2,
            "expected exit 2; stdout={} stderr={}",
            self.stdout(),
            self.stderr()
        );
        assert!(
            self.stderr().contains(needle),
            "stderr {:?} lacks {needle:?}",
            self.stderr()
        );
        assert!(
            self.stdout().trim().is_empty(),
            "nothing on stdout on error: {}",
            self.stdout()
        );
    }
}

/// The real server, in-process, on a random port; stopped when dropped.
pub(crate) struct TestServer {
    pub base: String,
    /// The metrics listener's base URL, unless `TESSERA_METRICS_BIND` is `off`.
    pub metrics: Option<String>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    pub(crate) fn start(config: Config) -> TestServer {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = match tessera::web::Server::build(config) {
                    Ok(s) => s,
                    Err(e) => {
                        tx.send(Err(e.to_string())).ok();
                        return;
                    }
                };
                tx.send(Ok((server.addr(), server.metrics_addr(), server.handle())))
                    .ok();
                server.run().await.ok();
            });
        });
        let (addr, metrics, handle) = rx.recv().expect("server thread").expect("server start");
        TestServer {
            base: format!("http://{addr}"),
            metrics: metrics.map(|a| format!("http://{a}")),
            handle,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client like a browser or an integrator uses: no automatic redirects, cookies kept.
    pub(crate) fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("http client")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop from a throwaway runtime: the handle's future needs one to be polled.
        let _ =
            thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false))).join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Declares each test twice: on SQLite, and on PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set.
#[macro_export]
macro_rules! on_both_backends {
    ($(fn $name:ident($db:ident: TestDb) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let $db = $crate::support::TestDb::sqlite();
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let Some($db) = $crate::support::TestDb::postgres() else {
                        eprintln!("TESSERA_TEST_POSTGRES_URL is not set: PostgreSQL variant not run");
                        return;
                    };
                    $body
                }
            )*
        }
    };
}

/// A `tessera serve` process of its own (for tests that need two instances, or signals).
pub(crate) struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServerProcess {
    pub(crate) fn start(db: &TestDb, extra: &[(&str, &str)]) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        let mut cmd = Command::new(tessera_bin());
        cmd.arg("serve")
            .env("TESSERA_DATABASE_URL", &db.url)
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_METRICS_BIND", "127.0.0.1:0")
            .env("TESSERA_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tessera serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(addr) = line.split("tessera listening addr=").nth(1) {
                        tx.send(addr.trim().to_string()).ok();
                        sent = true;
                    }
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("server did not start: {}", log.lock().unwrap()));
        ServerProcess {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
