//! A real nginx running the README's `auth_request` recipe — the very block, with only its
//! addresses replaced — in front of a real Tessera and a tiny upstream: the gateway's callers
//! see 200 (with the principal passed upstream) for a bearer token and for `?api_key=`, 401 with
//! Tessera's challenge, and 403 naming the missing scope.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::oauth_support::World;
use crate::support::TestDb;

/// nginx from Debian's package; CI installs it (`.ci/run`). Elsewhere the test says it was
/// skipped, unless `TESSERA_TEST_REQUIRE_PEERS` asks for it.
fn nginx() -> Option<&'static str> {
    let path = "/usr/sbin/nginx";
    if std::path::Path::new(path).exists() {
        return Some(path);
    }
    if std::env::var_os("TESSERA_TEST_REQUIRE_PEERS").is_some() {
        panic!("nginx is required (apt-get install nginx) but {path} is missing");
    }
    eprintln!("nginx not installed: gateway test skipped");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The ```nginx block of README.md's `/v1/check` section, with its listen address, Tessera's
/// address and the backend replaced — nothing else, so the README cannot drift from this test.
fn readme_recipe(listen: &str, tessera: &str, backend: &str) -> String {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let (_, section) = readme
        .split_once("\n## For resource servers and gateways")
        .expect("README.md has the /v1/check section");
    let section = section.split_once("\n## ").map_or(section, |(s, _)| s);
    let (_, block) = section
        .split_once("```nginx\n")
        .expect("the /v1/check section has an nginx block");
    let (block, _) = block
        .split_once("\n```")
        .expect("the nginx block is closed");
    let mut conf = block.to_string();
    for (from, to) in [
        ("listen 80;", format!("listen {listen};")),
        ("http://127.0.0.1:8080/", format!("http://{tessera}/")),
        ("http://backend;", format!("http://{backend};")),
    ] {
        assert_eq!(
            conf.matches(from).count(),
            1,
            "the README's nginx recipe should contain `{from}` once:\n{conf}"
        );
        conf = conf.replace(from, &to);
    }
    conf
}

struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Answer {
    status: u16,
    challenges: Vec<String>,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert_eq!(self.content_type, "application/json", "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

#[test]
fn nginx_readme_recipe_passes_200_401_and_403_through() {
    let Some(nginx) = nginx() else { return };
    let w = World::new(TestDb::sqlite());
    let integration = |name: &str, scope: &str| {
        let out =
            w.db.cli(&[
                "--json",
                "integration",
                "create",
                "--org",
                "acme",
                "--name",
                name,
                "--scope",
                scope,
            ])
            .json();
        (
            out["token"].as_str().unwrap().to_string(),
            out["id"].as_str().unwrap().to_string(),
        )
    };
    let (reader, id) = integration("Edge", "claims:read");
    let (writer, _) = integration("Filer", "claims:write");
    let tessera = w.server.base.trim_start_matches("http://").to_string();

    let dir = tempfile::tempdir().unwrap();
    let (front, upstream) = (free_port(), free_port());
    let d = dir.path().display();
    let recipe = readme_recipe(
        &format!("127.0.0.1:{front}"),
        &tessera,
        &format!("127.0.0.1:{upstream}"),
    );
    let conf = format!(
        r#"
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{recipe}
    server {{
        listen 127.0.0.1:{upstream};
        location / {{
            default_type text/plain;
            return 200 "upstream: subject=$http_x_auth_subject org=$http_x_auth_org uri=$request_uri";
        }}
    }}
}}
"#
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut nginx = Nginx(
        Command::new(nginx)
            .args(["-p", &d.to_string(), "-c", &conf_path.display().to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
        if let Some(status) = nginx.0.try_wait().unwrap() {
            panic!("nginx exited ({status}); its error is above");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let http = reqwest::blocking::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut req = http.get(format!("http://127.0.0.1:{front}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().unwrap();
        let header = |name| {
            res.headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let challenges = header(reqwest::header::WWW_AUTHENTICATE);
        let content_type = header(reqwest::header::CONTENT_TYPE).join(",");
        Answer {
            status: res.status().as_u16(),
            challenges,
            content_type,
            body: res.text().unwrap(),
        }
    };

    // 200, the principal passed upstream: a bearer token, or `?api_key=` wherever it stands in
    // the query — which reaches the upstream as the client sent it.
    let a = get("/api/claims", Some(&reader));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        format!("upstream: subject={id} org=acme uri=/api/claims")
    );
    let a = get(&format!("/api/claims?api_key={reader}"), None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        format!("upstream: subject={id} org=acme uri=/api/claims?api_key={reader}")
    );
    let query = format!("page=2&api_key={reader}&scope=claims:write");
    let a = get(&format!("/api/claims?{query}"), None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        format!("upstream: subject={id} org=acme uri=/api/claims?{query}")
    );

    // 401 with Tessera's challenge, once: a bare one without a token, `invalid_token` for a bad one.
    let unauthorized = json!({"error": {"code": "unauthorized"}});
    let a = get("/api/claims", None);
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.challenges, [r#"Bearer realm="tessera""#]);
    assert_eq!(a.json(), unauthorized);
    for (path, token) in [
        ("/api/claims", Some("tsr_live_forged")),
        ("/api/claims?api_key=tsr_live_forged", None),
        ("/api/claims?api_key=", None),
    ] {
        let a = get(path, token);
        assert_eq!(a.status, 401, "{path}: {}", a.body);
        let expected = if path.ends_with('=') {
            r#"Bearer realm="tessera""#
        } else {
            r#"Bearer realm="tessera", error="invalid_token""#
        };
        assert_eq!(a.challenges, [expected], "{path}");
        assert_eq!(a.json(), unauthorized, "{path}");
    }

    // 403 naming the missing scope, in the challenge (RFC 6750 §3) and in the body.
    for (path, token) in [
        ("/api/claims".to_string(), Some(writer.as_str())),
        (format!("/api/claims?api_key={writer}"), None),
    ] {
        let a = get(&path, token);
        assert_eq!(a.status, 403, "{path}: {}", a.body);
        assert_eq!(
            a.challenges,
            [r#"Bearer realm="tessera", error="insufficient_scope", scope="claims:read""#],
            "{path}"
        );
        assert_eq!(
            a.json(),
            json!({"error": {"code": "forbidden_scope", "required_scope": "claims:read"}}),
            "{path}"
        );
    }

    // Revoked: the gateway refuses from the next request on.
    w.db.cli(&["--json", "integration", "revoke", &id]).json();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if get("/api/claims", Some(&reader)).status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revocation not seen through the gateway"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        get(&format!("/api/claims?api_key={reader}"), None).status,
        401
    );
}
