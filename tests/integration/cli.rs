//! The operator CLI, run as a binary, on both backends.

use diesel::prelude::*;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::TestDb;

fn count(db: &TestDb, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.conn();
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<N>(&mut *conn)
        .unwrap()
        .n
}

/// Row counts of every table a CLI command may touch, to prove a refused command changed nothing.
fn snapshot(db: &TestDb) -> Vec<i64> {
    [
        "organizations",
        "users",
        "memberships",
        "scopes",
        "clients",
        "client_secrets",
        "audit_events",
    ]
    .iter()
    .map(|t| count(db, t))
    .collect()
}

fn setup_org(db: &TestDb) {
    db.cli(&["--json", "org", "create", "acme", "--name", "Acme Inc"])
        .json();
}

on_both_backends! {
    fn migrate_applies_once_then_reports_up_to_date(db: TestDb) {
        let first = db.cli(&["--json", "migrate"]).json();
        assert!(!first["applied"].as_array().unwrap().is_empty());
        let second = db.cli(&["--json", "migrate"]).json();
        assert_eq!(second["applied"], Value::Array(vec![]));
        // Built-in scopes exist from the first migration, with min_role admin.
        let scopes = db.cli(&["--json", "scope", "list"]).json();
        for name in ["integrations:manage", "clients:manage", "audit:read"] {
            let s = scopes.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap();
            assert_eq!(s["min_role"], "admin");
            assert_eq!(s["built_in"], true);
        }
    }

    fn org_create_prints_json_and_is_audited(db: TestDb) {
        let org = db.cli(&["--json", "org", "create", "acme", "--name", "Acme Inc"]).json();
        assert_eq!(org["slug"], "acme");
        assert_eq!(org["name"], "Acme Inc");
        assert!(org["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(count(&db, "audit_events"), 1);
        let text = db.cli(&["org", "create", "globex"]);
        assert_eq!(text.code(), 0);
        assert!(text.stdout().contains("created organization globex"));
        let list = db.cli(&["--json", "org", "list"]).json();
        assert_eq!(list.as_array().unwrap().len(), 2);
    }

    fn org_create_refuses_bad_slugs_and_duplicates_without_changing_anything(db: TestDb) {
        setup_org(&db);
        let before = snapshot(&db);
        db.cli(&["org", "create", "acme"]).assert_input_error("already exists");
        db.cli(&["org", "create", "Not A Slug"]).assert_input_error("slug");
        db.cli(&["org", "create", "ok-slug", "--name", ""]).assert_input_error("name");
        let long = "x".repeat(101);
        db.cli(&["org", "create", "ok-slug", "--name", &long]).assert_input_error("name");
        assert_eq!(snapshot(&db), before);
        // --json errors are JSON on stderr, still exit 2.
        let out = db.cli(&["--json", "org", "create", "acme"]);
        assert_eq!(out.code(), 2);
        let err: Value = serde_json::from_str(out.stderr().trim()).unwrap();
        assert_eq!(err["error"]["code"], "invalid_input");
    }

    fn scope_create_validates_name_and_role(db: TestDb) {
        let s = db.cli(&["--json", "scope", "create", "claims:read", "--description", "Read claims", "--min-role", "member"]).json();
        assert_eq!(s["name"], "claims:read");
        assert_eq!(s["min_role"], "member");
        let before = snapshot(&db);
        db.cli(&["scope", "create", "claims:read"]).assert_input_error("already exists");
        db.cli(&["scope", "create", "bad scope"]).assert_input_error("scope");
        db.cli(&["scope", "create", "\"quoted\""]).assert_input_error("scope");
        db.cli(&["scope", "create", "x:y", "--min-role", "root"]).assert_input_error("not a role");
        assert_eq!(snapshot(&db), before);
    }

    fn user_create_reads_the_password_from_stdin_and_stores_only_a_hash(db: TestDb) {
        setup_org(&db);
        let out = db.cli_with_stdin(
            &["--json", "user", "create", "Alice", "--org", "acme", "--role", "admin", "--password-stdin"],
            Some("s3cret-password\n"),
        );
        let user = out.json();
        assert_eq!(user["username"], "alice");
        assert_eq!(user["role"], "admin");
        assert!(!out.stdout().contains("s3cret-password"));
        let mut conn = db.conn();
        let hash: String = tessera::store::schema::users::table
            .filter(tessera::store::schema::users::username.eq("alice"))
            .select(tessera::store::schema::users::password_hash)
            .first(&mut *conn)
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(tessera::passwords::verify("s3cret-password", &hash));
    }

    fn user_create_refuses_bad_input_without_changing_anything(db: TestDb) {
        setup_org(&db);
        db.cli_with_stdin(&["user", "create", "bob", "--org", "acme", "--role", "member", "--password-stdin"], Some("long-enough-pw\n"));
        let before = snapshot(&db);
        let cases: [(&[&str], &str, &str); 6] = [
            (&["user", "create", "bob", "--org", "acme", "--role", "member", "--password-stdin"], "another-password\n", "already exists"),
            (&["user", "create", "carol", "--org", "nowhere", "--role", "member", "--password-stdin"], "another-password\n", "not found"),
            (&["user", "create", "carol", "--org", "acme", "--role", "boss", "--password-stdin"], "another-password\n", "not a role"),
            (&["user", "create", "carol", "--org", "acme", "--role", "member", "--password-stdin"], "short\n", "at least 8"),
            (&["user", "create", "bad name", "--org", "acme", "--role", "member", "--password-stdin"], "another-password\n", "username"),
            (&["user", "create", "carol", "--org", "acme", "--role", "member"], "another-password\n", "--password-stdin"),
        ];
        for (args, stdin, needle) in cases {
            db.cli_with_stdin(args, Some(stdin)).assert_input_error(needle);
        }
        assert_eq!(snapshot(&db), before);
    }

    fn client_create_shows_the_secret_once_and_list_never_does(db: TestDb) {
        setup_org(&db);
        db.cli(&["scope", "create", "claims:read"]);
        let created = db.cli(&[
            "--json", "client", "create", "--org", "acme", "--name", "Claims App",
            "--redirect-uri", "https://app.example.com/cb", "--redirect-uri", "http://127.0.0.1:9999/cb",
            "--scope", "claims:read",
        ]).json();
        let secret = created["client_secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("tsr_cs_"), "{secret}");
        assert_eq!(created["type"], "confidential");
        assert_eq!(created["refresh_grace"], "0s");
        assert_eq!(created["redirect_uris"].as_array().unwrap().len(), 2);

        let public = db.cli(&[
            "--json", "client", "create", "--org", "acme", "--name", "SPA",
            "--redirect-uri", "https://spa.example.com/cb", "--scope", "claims:read", "--public",
        ]).json();
        assert_eq!(public["client_secret"], Value::Null);
        assert_eq!(public["type"], "public");

        for args in [&["--json", "client", "list", "--org", "acme"][..], &["client", "list", "--org", "acme"][..]] {
            let out = db.cli(args);
            assert_eq!(out.code(), 0);
            assert!(!out.stdout().contains(&secret));
            assert!(!out.stdout().contains("tsr_cs_"));
            assert!(out.stdout().contains(created["client_id"].as_str().unwrap()));
        }
        // Only the hash is stored.
        let mut conn = db.conn();
        let stored: Vec<u8> = tessera::store::schema::client_secrets::table
            .select(tessera::store::schema::client_secrets::secret_hash)
            .first(&mut *conn)
            .unwrap();
        assert_eq!(stored, tessera::tokens::secret::SecretHash::of(&secret).0.to_vec());
    }

    fn client_create_refuses_bad_input_without_changing_anything(db: TestDb) {
        setup_org(&db);
        db.cli(&["scope", "create", "claims:read"]);
        let before = snapshot(&db);
        let base = ["client", "create", "--org", "acme", "--name", "App"];
        let cases: [(&[&str], &str); 6] = [
            (&["--redirect-uri", "http://app.example.com/cb", "--scope", "claims:read"], "https"),
            (&["--redirect-uri", "https://app.example.com/cb#frag", "--scope", "claims:read"], "fragment"),
            (&["--redirect-uri", "not a url", "--scope", "claims:read"], "redirect_uri"),
            (&["--redirect-uri", "https://app.example.com/cb", "--scope", "claims:write"], "unknown scope"),
            (&["--redirect-uri", "https://app.example.com/cb", "--scope", ""], "at least one scope"),
            (&["--scope", "claims:read"], "--redirect-uri"),
        ];
        for (extra, needle) in cases {
            let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
            db.cli(&args).assert_input_error(needle);
        }
        db.cli(&["client", "create", "--org", "nowhere", "--name", "App", "--redirect-uri", "https://a.example/cb", "--scope", "claims:read"])
            .assert_input_error("not found");
        db.cli(&["client", "list", "--org", "nowhere"]).assert_input_error("not found");
        assert_eq!(snapshot(&db), before);
    }

    fn every_change_writes_an_audit_event(db: TestDb) {
        setup_org(&db);
        db.cli(&["scope", "create", "claims:read"]);
        db.cli_with_stdin(&["user", "create", "bob", "--org", "acme", "--role", "member", "--password-stdin"], Some("long-enough-pw\n"));
        db.cli(&["client", "create", "--org", "acme", "--name", "App", "--redirect-uri", "https://a.example/cb", "--scope", "claims:read"]);
        let mut conn = db.conn();
        use tessera::store::schema::audit_events::dsl::*;
        let actions: Vec<String> = audit_events.order(id).select(action).load(&mut *conn).unwrap();
        assert_eq!(actions, ["org.create", "scope.create", "user.create", "client.create"]);
        let details: Vec<Option<String>> = audit_events.select(detail).load(&mut *conn).unwrap();
        assert!(details.iter().flatten().all(|d| !d.contains("long-enough-pw")));
    }
}

#[test]
fn a_bad_setting_is_a_clear_error_naming_the_variable() {
    let out = std::process::Command::new(crate::support::tessera_bin())
        .args(["org", "list"])
        .env("TESSERA_DATABASE_URL", "mysql://localhost/x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TESSERA_DATABASE_URL"), "{stderr}");
}
