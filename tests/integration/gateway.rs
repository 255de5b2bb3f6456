//! A real nginx with `auth_request` pointed at `/v1/check`, in front of a tiny upstream:
//! the gateway's callers see 200 (with the principal passed upstream), 401 and 403.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn nginx_auth_request_passes_200_401_and_403_through() {
    let Some(nginx) = nginx() else { return };
    let w = World::new(TestDb::sqlite());
    let out =
        w.db.cli(&[
            "--json",
            "integration",
            "create",
            "--org",
            "acme",
            "--name",
            "Edge",
            "--scope",
            "claims:read",
        ])
        .json();
    let token = out["token"].as_str().unwrap().to_string();
    let id = out["id"].as_str().unwrap().to_string();
    let tessera = w.server.base.trim_start_matches("http://").to_string();

    let dir = tempfile::tempdir().unwrap();
    let (front, upstream) = (free_port(), free_port());
    let d = dir.path().display();
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
    server {{
        listen 127.0.0.1:{front};
        location /api/read/ {{
            auth_request /_check_read;
            auth_request_set $auth_subject $upstream_http_x_auth_subject;
            auth_request_set $auth_org $upstream_http_x_auth_org;
            proxy_set_header X-Auth-Subject $auth_subject;
            proxy_set_header X-Auth-Org $auth_org;
            proxy_pass http://127.0.0.1:{upstream};
        }}
        location /api/write/ {{
            auth_request /_check_write;
            proxy_pass http://127.0.0.1:{upstream};
        }}
        location = /_check_read {{
            internal;
            proxy_pass http://{tessera}/v1/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Required-Scope "claims:read";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
        location = /_check_write {{
            internal;
            proxy_pass http://{tessera}/v1/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Required-Scope "claims:write";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
    server {{
        listen 127.0.0.1:{upstream};
        location / {{
            default_type text/plain;
            return 200 "upstream: subject=$http_x_auth_subject org=$http_x_auth_org";
        }}
    }}
}}
"#
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let _nginx = Nginx(
        Command::new(nginx)
            .args(["-p", &d.to_string(), "-c", &conf_path.display().to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
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
        (res.status().as_u16(), res.text().unwrap())
    };
    let (status, body) = get("/api/read/claims", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, format!("upstream: subject={id} org=acme"));
    assert_eq!(get("/api/read/claims", None).0, 401);
    assert_eq!(get("/api/read/claims", Some("tsr_live_forged")).0, 401);
    assert_eq!(get("/api/write/claims", Some(&token)).0, 403);
    // Revoked: the gateway refuses from the next request on.
    w.db.cli(&["--json", "integration", "revoke", &id]).json();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (status, _) = get("/api/read/claims", Some(&token));
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revocation not seen through the gateway"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
