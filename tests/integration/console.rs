//! The console as a browser without JavaScript uses it: forms posted with the session's
//! anti-forgery token read from the page, a cookie jar, redirects followed by hand. An admin
//! creates an integration and the gateway accepts its token; the token is shown once and never
//! again; forged forms, too-low roles and a plan without integrations change nothing; a stale
//! sign-in must type the password again before a secret is shown.

use diesel::RunQueryDsl;
use reqwest::blocking::{Client as Http, Response};
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION};
use serde_json::Value;

use crate::oauth_support::{PASSWORD, World};
use crate::on_both_backends;

const INTEGRATIONS: &str = "/console/orgs/acme/integrations";

/// A page as the browser got it.
struct Page {
    status: u16,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn of(res: Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let html = res.text().unwrap();
        Page {
            status,
            headers,
            html,
        }
    }

    fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.html))
            .to_str()
            .unwrap()
            .to_string()
    }

    fn doc(&self) -> scraper::Html {
        scraper::Html::parse_document(&self.html)
    }

    fn select_all(&self, css: &str) -> Vec<String> {
        let sel = scraper::Selector::parse(css).unwrap();
        self.doc()
            .select(&sel)
            .map(|e| e.text().collect::<String>().trim().to_string())
            .collect()
    }

    fn attr(&self, css: &str, attr: &str) -> Option<String> {
        let sel = scraper::Selector::parse(css).unwrap();
        self.doc()
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr).map(str::to_string))
    }

    fn h1(&self) -> String {
        let h1s = self.select_all("main h1");
        assert_eq!(h1s.len(), 1, "one h1 per page: {}", self.html);
        h1s[0].clone()
    }

    /// The session's anti-forgery token, from the page's first form that carries one.
    fn csrf(&self) -> String {
        self.attr("input[name=csrf_token]", "value")
            .unwrap_or_else(|| panic!("no csrf_token in {}", self.html))
    }

    /// The console's security headers, on every answer of its pages.
    fn assert_secure(&self) {
        let h = |name: &str| {
            self.headers
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing ({})", self.status))
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            h("content-security-policy"),
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("cache-control"), "no-store");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert_eq!(h("x-content-type-options"), "nosniff");
        if self.status != 303 {
            // No inline script: every script is the console's own file.
            let scripts = scraper::Selector::parse("script").unwrap();
            for s in self.doc().select(&scripts) {
                let src = s.value().attr("src").expect("a script without src");
                assert!(src.starts_with("/console/assets/console.js"), "{src}");
                assert!(s.text().collect::<String>().trim().is_empty());
            }
        }
    }
}

/// A person's browser on the console.
struct Browser<'w> {
    w: &'w World,
    http: Http,
}

impl<'w> Browser<'w> {
    fn new(w: &'w World) -> Browser<'w> {
        Browser {
            w,
            http: w.browser(),
        }
    }

    fn get(&self, path: &str) -> Page {
        let page = Page::of(self.http.get(self.w.server.url(path)).send().unwrap());
        page.assert_secure();
        page
    }

    /// A form post as a browser sends it from one of the console's own pages.
    fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[("Sec-Fetch-Site", "same-origin")])
    }

    fn post_with(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .http
            .post(self.w.server.url(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let page = Page::of(req.send().unwrap());
        page.assert_secure();
        page
    }

    /// Signs in through the console's form: 303 back to `/console`.
    fn sign_in(&self, user: &str, password: &str) -> Page {
        let form = self.get("/console");
        assert_eq!(form.status, 200);
        assert_eq!(form.h1(), "Sign in to Tessera");
        let csrf = form.csrf();
        self.post(
            "/console/sign-in",
            &[
                ("csrf_token", &csrf),
                ("username", user),
                ("password", password),
            ],
        )
    }

    fn signed_in(w: &'w World, user: &str) -> Browser<'w> {
        let b = Browser::new(w);
        let res = b.sign_in(user, PASSWORD);
        assert_eq!(res.status, 303, "{}", res.html);
        assert_eq!(res.location(), "/console");
        b
    }
}

/// The token on a one-time page.
fn secret(page: &Page) -> String {
    page.attr("input#secret[readonly]", "value")
        .unwrap_or_else(|| panic!("no secret on {}", page.html))
}

/// `/v1/check` with the token and `claims:read` required: the status.
fn check(w: &World, token: &str) -> u16 {
    w.app()
        .get(w.server.url("/v1/check"))
        .bearer_auth(token)
        .header("X-Required-Scope", "claims:read")
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// acme's integrations, as the CLI lists them.
fn integrations(w: &World) -> Vec<Value> {
    let out =
        w.db.cli(&["--json", "integration", "list", "--org", "acme"])
            .json();
    match out {
        Value::Array(items) => items,
        other => other["integrations"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    }
}

on_both_backends! {
    fn an_admin_creates_an_integration_whose_token_works_and_is_never_shown_again(db: TestDb) {
        let w = World::new(db);
        let root = Page::of(w.browser().get(w.server.url("/")).send().unwrap());
        assert_eq!(root.status, 303);
        assert_eq!(root.location(), "/console");

        let ada = Browser::signed_in(&w, "ada");
        // One organization: straight to its integrations.
        let home = ada.get("/console");
        assert_eq!(home.status, 303);
        assert_eq!(home.location(), INTEGRATIONS);
        let list = ada.get(INTEGRATIONS);
        assert_eq!(list.status, 200);
        assert_eq!(list.h1(), "Integrations");
        assert_eq!(list.select_all("nav[aria-label=Console] a"),
            ["Integrations", "OAuth clients", "Members", "Audit log", "Account"]);
        assert_eq!(list.select_all("main a.button"), ["Create integration"]);
        assert_eq!(list.select_all("table caption"), ["Integration tokens"]);

        let form = ada.get(&format!("{INTEGRATIONS}/new"));
        assert_eq!(form.h1(), "Create integration");
        for label in ["Name", "Description", "Expires in", "Allowed IP addresses", "Stop working after unused for"] {
            assert!(form.select_all("label").iter().any(|l| l == label), "{label}: {}", form.html);
        }
        // Signed in just now: no password asked.
        assert!(!form.html.contains("Confirm your password"));

        let form = ada.get(&format!("{INTEGRATIONS}/new"));
        let fields = [
            ("csrf_token", form.csrf()), ("name", "Claims export".into()),
            ("description", "Nightly claims export".into()), ("env", "live".into()),
            ("scopes", "claims:read".into()), ("expires_in", "90d".into()),
            ("allow_ips", "127.0.0.1\n::1".into()),
        ];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let shown = ada.post(&format!("{INTEGRATIONS}/new"), &fields);
        assert_eq!(shown.status, 200, "{}", shown.html);
        // The same form again (a reload of this page) makes nothing: it was spent.
        let again = ada.post(&format!("{INTEGRATIONS}/new"), &fields);
        assert_eq!(again.status, 403, "{}", again.html);
        assert_eq!(again.h1(), "Form expired");
        assert_eq!(integrations(&w).len(), 1);
        assert_eq!(shown.h1(), "Copy your token now");
        assert!(shown.html.contains("will not be shown again"));
        assert_eq!(shown.select_all("button"), ["Copy"]);
        assert_eq!(shown.attr("label[for=secret]", "for").as_deref(), Some("secret"));
        let token = secret(&shown);
        assert!(token.starts_with("tsr_live_"), "{token}");
        assert_eq!(check(&w, &token), 200);

        // Never again: not in the list, the details, any other page.
        let done = shown.attr("a[href*='/integrations/int_']", "href").unwrap();
        let details = ada.get(&done);
        assert_eq!(details.h1(), "Claims export");
        let list = ada.get(INTEGRATIONS);
        assert_eq!(list.select_all("tbody tr").len(), 1);
        let status = list.select_all("tbody td")[7].clone();
        assert!(status.starts_with("Expiring "), "{status}");
        let key = format!("{}…{}", &token[..12], &token[token.len() - 4..]);
        for page in [&details, &list, &ada.get(&format!("{done}/rotate")), &ada.get("/console/orgs/acme/audit")] {
            assert!(!page.html.contains(&token), "the token was shown again");
        }
        assert!(details.html.contains(&key) && list.html.contains(&key));
        assert_eq!(details.select_all("p.actions a"), ["Rotate", "Expire", "Revoke", "Edit"]);

        // Rotate with a grace period: a new token, shown once; both work for the hour.
        let rotate = ada.get(&format!("{done}/rotate"));
        assert_eq!(rotate.h1(), "Rotate Claims export");
        let rotated = ada.post(&format!("{done}/rotate"), &[("csrf_token", &rotate.csrf()), ("grace", "1h")]);
        assert_eq!(rotated.status, 200, "{}", rotated.html);
        let new_token = secret(&rotated);
        assert_ne!(new_token, token);
        assert_eq!(check(&w, &new_token), 200);
        assert_eq!(check(&w, &token), 200);
        // Over the cap: refused, nothing issued.
        // (the rotation spent the page's forms: a fresh one)
        let rotate = ada.get(&format!("{done}/rotate"));
        let capped = ada.post(&format!("{done}/rotate"), &[("csrf_token", &rotate.csrf()), ("grace", "8d")]);
        assert_eq!(capped.status, 422);
        assert_eq!(capped.select_all("[role=alert]").len(), 1);

        // Edit, then expire (which never extends), then revoke: each back with a status.
        let edit = ada.get(&format!("{done}/edit"));
        let saved = ada.post(&format!("{done}/edit"), &[
            ("csrf_token", &edit.csrf()), ("name", "Claims export v2"),
            ("description", "Hourly"), ("allow_ips", "127.0.0.1\n::1"),
        ]);
        assert_eq!(saved.status, 303, "{}", saved.html);
        assert_eq!(saved.location(), format!("{done}?done=saved"));
        let after = ada.get(&saved.location());
        assert_eq!(after.h1(), "Claims export v2");
        assert_eq!(after.select_all("[role=status]"), ["Your changes were saved."]);
        let expire = ada.get(&format!("{done}/expire"));
        assert_eq!(expire.h1(), "Expire Claims export v2");
        let later = ada.post(&format!("{done}/expire"), &[("csrf_token", &expire.csrf()), ("in", "3650d")]);
        assert_eq!(later.location(), format!("{done}?done=expiry-kept"));
        let sooner = ada.post(&format!("{done}/expire"), &[("csrf_token", &expire.csrf()), ("in", "2h")]);
        assert_eq!(sooner.location(), format!("{done}?done=expired"));
        let revoke = ada.get(&format!("{done}/revoke"));
        assert_eq!(revoke.h1(), "Revoke Claims export v2?");
        let revoked = ada.post(&format!("{done}/revoke"), &[("csrf_token", &revoke.csrf())]);
        assert_eq!(revoked.status, 303);
        assert_eq!(revoked.location(), format!("{INTEGRATIONS}?done=revoked"));
        assert_eq!(check(&w, &new_token), 401);
        assert_eq!(check(&w, &token), 401);
        let list = ada.get(&revoked.location());
        assert_eq!(list.select_all("tbody td")[7], "Revoked");
        assert_eq!(list.select_all("[role=status]"), ["The integration was revoked."]);

        // The audit log, newest first, filtered by action.
        let audit = ada.get("/console/orgs/acme/audit?action=integration.rotate");
        assert_eq!(audit.h1(), "Audit log");
        let actions: Vec<String> = audit.select_all("tbody td code");
        assert_eq!(actions, ["integration.rotate"]);
        let all = ada.get("/console/orgs/acme/audit?actor=ada");
        let actions: Vec<String> = all.select_all("tbody td code");
        assert_eq!(actions, [
            "integration.revoke", "integration.expire", "integration.expire",
            "integration.update", "integration.rotate", "integration.create",
        ]);
        assert!(!all.html.contains(&token) && !all.html.contains(&new_token));
    }

    fn forged_or_cross_site_forms_are_refused_and_change_nothing(db: TestDb) {
        let w = World::new(db);
        let ada = Browser::signed_in(&w, "ada");
        let csrf = ada.get(&format!("{INTEGRATIONS}/new")).csrf();
        let path = format!("{INTEGRATIONS}/new");
        let good = [("name", "Forged"), ("scopes", "claims:read"), ("csrf_token", csrf.as_str())];
        let refusals = [
            ada.post(&path, &good[..2]),
            ada.post(&path, &[good[0], good[1], ("csrf_token", "x".repeat(32).as_str())]),
            ada.post_with(&path, &good, &[("Sec-Fetch-Site", "cross-site")]),
            ada.post_with(&path, &good, &[("Sec-Fetch-Site", "same-site")]),
            ada.post_with(&path, &good, &[("Origin", "http://evil.example")]),
        ];
        for page in &refusals {
            assert_eq!(page.status, 403, "{}", page.html);
            assert!(page.select_all("[role=alert]").len() == 1);
        }
        assert!(integrations(&w).is_empty());
        // A browser that sends the issuer's own origin (and no Fetch Metadata) is fine.
        let origin = w.server.base.clone();
        let made = ada.post_with(&path, &good, &[("Origin", origin.as_str())]);
        assert_eq!(made.status, 200, "{}", made.html);
        assert_eq!(integrations(&w).len(), 1);
        // Making a secret spent the session's forms: a page again for a fresh token.
        let csrf = ada.get("/console/account").csrf();

        // Signing out needs the session's token too; a forged one leaves the session alive.
        let out = ada.post("/console/sign-out", &[("csrf_token", "forged")]);
        assert_eq!(out.status, 403);
        assert_eq!(ada.get(INTEGRATIONS).status, 200);
        let cross = ada.post_with("/console/sign-out", &[("csrf_token", &csrf)], &[("Sec-Fetch-Site", "cross-site")]);
        assert_eq!(cross.status, 403);
        assert_eq!(ada.get(INTEGRATIONS).status, 200);
        let out = ada.post("/console/sign-out", &[("csrf_token", &csrf)]);
        assert_eq!(out.status, 303);
        let gone = ada.get(INTEGRATIONS);
        assert_eq!(gone.status, 303);
        assert_eq!(gone.location(), "/console");
        // A sign-in form without its double-submit token is refused before any check.
        let b = Browser::new(&w);
        let forged = b.post("/console/sign-in", &[("username", "ada"), ("password", PASSWORD)]);
        assert_eq!(forged.status, 403);
    }

    fn members_and_managers_see_why_and_cannot_change_anything(db: TestDb) {
        let w = World::new(db);
        let (id, token) = w.create_integration("CLI made", &[]);
        for user in ["alice", "mona"] {
            let b = Browser::signed_in(&w, user);
            let list = b.get(INTEGRATIONS);
            assert_eq!(list.status, 200);
            assert_eq!(list.h1(), "Integrations");
            assert!(list.html.contains("admin or owner"), "{}", list.html);
            assert!(!list.html.contains("CLI made"));
            assert!(list.select_all("main a.button").is_empty());
            for path in [format!("{INTEGRATIONS}/new"), format!("{INTEGRATIONS}/{id}"), format!("{INTEGRATIONS}/{id}/revoke"), "/console/orgs/acme/audit".to_string()] {
                let page = b.get(&path);
                assert_eq!(page.status, 200);
                assert!(page.html.contains("admin or owner"), "{path}");
            }
            let csrf = b.get("/console/account").csrf();
            let create = b.post(&format!("{INTEGRATIONS}/new"), &[("csrf_token", &csrf), ("name", "Mine"), ("scopes", "claims:read")]);
            assert_eq!(create.status, 403);
            let revoke = b.post(&format!("{INTEGRATIONS}/{id}/revoke"), &[("csrf_token", &csrf)]);
            assert_eq!(revoke.status, 403);
            let rotate = b.post(&format!("{INTEGRATIONS}/{id}/rotate"), &[("csrf_token", &csrf), ("grace", "0s")]);
            assert_eq!(rotate.status, 403);
            assert_eq!(rotate.attr("input#secret", "value"), None);
        }
        assert_eq!(integrations(&w).len(), 1);
        assert_eq!(check(&w, &token), 200);
        // Someone else's organization is not found, whatever the role.
        let gina = Browser::signed_in(&w, "gina");
        assert_eq!(gina.get(INTEGRATIONS).status, 404);
        let csrf = gina.get("/console/account").csrf();
        let revoke = gina.post(&format!("{INTEGRATIONS}/{id}/revoke"), &[("csrf_token", &csrf)]);
        assert_eq!(revoke.status, 404);
        assert_eq!(check(&w, &token), 200);
    }

    fn a_plan_without_integrations_offers_no_create_but_keeps_what_exists(db: TestDb) {
        let w = World::new(db);
        let (id, token) = w.create_integration("Before the downgrade", &[]);
        let out = w.db.cli(&["org", "set-plan", "acme", "free"]);
        assert_eq!(out.code(), 0, "{}", out.stderr());
        let ada = Browser::signed_in(&w, "ada");
        let list = ada.get(INTEGRATIONS);
        assert_eq!(list.status, 200);
        assert!(list.select_all("main a.button").is_empty(), "{}", list.html);
        assert!(list.html.contains("Upgrade to the team plan"), "{}", list.html);
        assert!(list.html.contains("Integration tokens let your own servers"));
        assert!(list.html.contains("Before the downgrade"));
        let new = ada.get(&format!("{INTEGRATIONS}/new"));
        assert!(new.select_all("form[method=post]").is_empty(), "{}", new.html);
        let csrf = ada.get("/console/account").csrf();
        let create = ada.post(&format!("{INTEGRATIONS}/new"), &[("csrf_token", &csrf), ("name", "After"), ("scopes", "claims:read")]);
        assert_eq!(create.status, 403);
        let rotate = ada.post(&format!("{INTEGRATIONS}/{id}/rotate"), &[("csrf_token", &csrf), ("grace", "0s")]);
        assert_eq!(rotate.status, 403);
        assert_eq!(integrations(&w).len(), 1);
        assert_eq!(check(&w, &token), 200);
        // Existing integrations can still be expired and revoked.
        let details = ada.get(&format!("{INTEGRATIONS}/{id}"));
        assert_eq!(details.select_all("p.actions a"), ["Expire", "Revoke", "Edit"]);
        let revoked = ada.post(&format!("{INTEGRATIONS}/{id}/revoke"), &[("csrf_token", &csrf)]);
        assert_eq!(revoked.status, 303);
        assert_eq!(check(&w, &token), 401);
    }

    fn a_stale_sign_in_types_the_password_again_before_a_secret(db: TestDb) {
        let w = World::with_config(db, &[("TESSERA_REAUTH_WINDOW", "0s")]);
        let ada = Browser::signed_in(&w, "ada");
        let form = ada.get(&format!("{INTEGRATIONS}/new"));
        assert!(form.select_all("label").iter().any(|l| l == "Confirm your password"), "{}", form.html);
        let csrf = form.csrf();
        let path = format!("{INTEGRATIONS}/new");
        let fields = |password: Option<&'static str>| {
            let mut f = vec![("csrf_token", csrf.clone()), ("name", "Needs a password".to_string()), ("scopes", "claims:read".to_string())];
            if let Some(p) = password {
                f.push(("password", p.to_string()));
            }
            f
        };
        let post = |f: Vec<(&str, String)>| {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ada.post(&path, &f)
        };
        let without = post(fields(None));
        assert_eq!(without.status, 401, "{}", without.html);
        let wrong = post(fields(Some("not-the-password")));
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.select_all("[role=alert]"), ["That password is not right."]);
        // What was typed is kept, but never the password.
        assert_eq!(wrong.attr("input#name", "value").as_deref(), Some("Needs a password"));
        assert_eq!(wrong.attr("input#password", "value"), None);
        assert!(integrations(&w).is_empty());
        let right = post(fields(Some(PASSWORD)));
        assert_eq!(right.status, 200, "{}", right.html);
        assert_eq!(check(&w, &secret(&right)), 200);
        // Rotating asks again too.
        let id = integrations(&w)[0]["id"].as_str().unwrap().to_string();
        let rotate = ada.get(&format!("{INTEGRATIONS}/{id}/rotate"));
        assert!(rotate.html.contains("Confirm your password"));
        let refused = ada.post(&format!("{INTEGRATIONS}/{id}/rotate"), &[("csrf_token", &rotate.csrf()), ("grace", "0s")]);
        assert_eq!(refused.status, 401);
        assert_eq!(refused.attr("input#secret", "value"), None);
        // The wrong password was counted and audited like a failed sign-in.
        let audit = ada.get("/console/orgs/acme/audit?action=user.sign_in_failed");
        assert_eq!(audit.select_all("tbody tr").len(), 1, "{}", audit.html);
    }

    fn signing_in_out_and_changing_the_password(db: TestDb) {
        let w = World::new(db);
        let b = Browser::new(&w);
        let wrong = b.sign_in("ada", "not-the-password");
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.select_all("[role=alert]"), ["Invalid username or password."]);
        assert_eq!(wrong.attr("input#username", "value").as_deref(), Some("ada"));

        let ada = Browser::signed_in(&w, "ada");
        let elsewhere = Browser::signed_in(&w, "ada");
        let account = ada.get("/console/account?org=acme");
        assert_eq!(account.h1(), "Account");
        let csrf = account.csrf();
        let bad = ada.post("/console/account/password", &[("csrf_token", &csrf), ("current_password", "nope-nope"), ("new_password", "a-new-password-1")]);
        assert_eq!(bad.status, 401);
        let short = ada.post("/console/account/password", &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", "short")]);
        assert_eq!(short.status, 422);
        let changed = ada.post("/console/account/password", &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", "a-new-password-1")]);
        assert_eq!(changed.status, 303, "{}", changed.html);
        let audit = ada.get("/console/orgs/acme/audit?action=user.password_changed");
        assert_eq!(audit.select_all("tbody tr").len(), 1, "{}", audit.html);
        assert!(!audit.html.contains("a-new-password-1"));
        // This session goes on; the other one has ended.
        assert_eq!(ada.get(INTEGRATIONS).status, 200);
        assert_eq!(elsewhere.get(INTEGRATIONS).status, 303);
        assert_eq!(Browser::new(&w).sign_in("ada", PASSWORD).status, 401);
        let again = Browser::new(&w);
        assert_eq!(again.sign_in("ada", "a-new-password-1").status, 303);
        // "End every session" signs out every browser.
        let out = ada.post("/console/account/sign-out-everywhere", &[("csrf_token", &csrf)]);
        assert_eq!(out.status, 303);
        assert_eq!(ada.get(INTEGRATIONS).status, 303);
        assert_eq!(again.get(INTEGRATIONS).status, 303);

        // A user of several organizations picks one.
        let mut conn = w.db.conn();
        diesel::sql_query(
            "INSERT INTO memberships (user_id, org_id, role, created_at) \
             SELECT u.id, o.id, 'admin', CURRENT_TIMESTAMP FROM users u, organizations o \
             WHERE u.username = 'gina' AND o.slug = 'acme'",
        )
        .execute(&mut *conn)
        .unwrap();
        drop(conn);
        let gina = Browser::signed_in(&w, "gina");
        let home = gina.get("/console");
        assert_eq!(home.status, 200);
        assert_eq!(home.h1(), "Your organizations");
        let mut names = home.select_all("main li a");
        names.sort();
        assert_eq!(names, ["Acme Inc", "globex"]);

        // An operator sets a forgotten password: the user's sessions end, the new one works.
        let set = w.db.cli_with_stdin(&["--json", "user", "set-password", "gina", "--password-stdin"], Some("a-new-password-for-gina\n")).json();
        assert_eq!(set["sessions_ended"], 1);
        assert_eq!(gina.get("/console").h1(), "Sign in to Tessera");
        assert_eq!(Browser::new(&w).sign_in("gina", PASSWORD).status, 401);
        assert_eq!(Browser::new(&w).sign_in("gina", "a-new-password-for-gina").status, 303);
        w.db.cli_with_stdin(&["user", "set-password", "nobody", "--password-stdin"], Some("a-new-password-for-gina\n"))
            .assert_input_error("not found");
    }

    fn wrong_confirmations_count_against_the_account_like_failed_sign_ins(db: TestDb) {
        let w = World::with_config(db, &[
            ("TESSERA_REAUTH_WINDOW", "0s"),
            ("TESSERA_SIGN_IN_FREE_FAILURES", "2"),
            ("TESSERA_SIGN_IN_FIRST_DELAY", "60s"),
        ]);
        let ada = Browser::signed_in(&w, "ada");
        let csrf = ada.get("/console/account").csrf();
        let path = format!("{INTEGRATIONS}/new");
        let create = |password: &str| {
            ada.post(&path, &[("csrf_token", csrf.as_str()), ("name", "Guessed"), ("scopes", "claims:read"), ("password", password)])
        };
        assert_eq!(create("guess-one-1").status, 401);
        assert_eq!(create("guess-two-2").status, 401);
        // The account must now wait: the right password is not even checked, here or at the
        // sign-in form, and the answer says when to come back.
        let waiting = create(PASSWORD);
        assert_eq!(waiting.status, 429, "{}", waiting.html);
        assert!(waiting.headers.contains_key("retry-after"));
        assert_eq!(waiting.select_all("[role=alert]").len(), 1);
        let other = Browser::new(&w).sign_in("ada", PASSWORD);
        assert_eq!(other.status, 429);
        // Each refusal while told to wait counts too, so the wait has grown past the first.
        let secs: u64 = other.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(secs > 60, "{secs}");
        assert!(integrations(&w).is_empty());
    }

    fn admins_add_create_promote_and_remove_members(db: TestDb) {
        let w = World::new(db);
        let members = "/console/orgs/acme/members";
        let ada = Browser::signed_in(&w, "ada");
        let page = ada.get(members);
        assert_eq!(page.h1(), "Members");
        let listed: Vec<String> = page.select_all("tbody tr td:first-child");
        assert_eq!(listed, ["ada", "alice", "mona"]);
        let csrf = page.csrf();
        // An existing user of another organization.
        let added = ada.post(members, &[("csrf_token", &csrf), ("username", "gina"), ("role", "member")]);
        assert_eq!(added.status, 303, "{}", added.html);
        assert_eq!(added.location(), format!("{members}?done=added"));
        // A new user, whose initial password is shown once.
        let created = ada.post(members, &[("csrf_token", &csrf), ("username", "newbie"), ("role", "member"), ("create", "yes")]);
        assert_eq!(created.status, 200, "{}", created.html);
        assert_eq!(created.h1(), "Copy the initial password now");
        assert_eq!(created.attr("label[for=secret]", "for").as_deref(), Some("secret"));
        assert!(created.select_all("label").iter().any(|l| l == "Initial password"));
        let password = secret(&created);
        let listed = ada.get(members);
        let csrf = listed.csrf();
        assert!(!listed.html.contains(&password));
        let newbie = Browser::new(&w);
        assert_eq!(newbie.sign_in("newbie", &password).status, 303);
        assert_eq!(newbie.get(INTEGRATIONS).status, 200);
        // An admin may not grant owner; the domain's rule, answered as a page.
        let owner = ada.post(&format!("{members}/newbie/role"), &[("csrf_token", &csrf), ("role", "owner")]);
        assert_eq!(owner.status, 403);
        let promoted = ada.post(&format!("{members}/newbie/role"), &[("csrf_token", &csrf), ("role", "admin")]);
        assert_eq!(promoted.status, 303);
        // Removing ends their access to the organization at the next request.
        let confirm = ada.get(&format!("{members}/newbie/remove"));
        assert_eq!(confirm.h1(), "Remove newbie?");
        let removed = ada.post(&format!("{members}/newbie/remove"), &[("csrf_token", &csrf)]);
        assert_eq!(removed.status, 303);
        assert_eq!(newbie.get(INTEGRATIONS).status, 404);
        let audit = ada.get("/console/orgs/acme/audit?integration=newbie");
        let actions = audit.select_all("tbody td code");
        assert_eq!(actions, ["member.removed", "member.role_changed", "member.created"]);
        assert!(!audit.html.contains(&password));
        // A manager sees why, and cannot add anyone.
        let mona = Browser::signed_in(&w, "mona");
        let page = mona.get(members);
        assert_eq!(page.status, 200);
        assert!(page.html.contains("admin or owner"));
        let csrf = mona.get("/console/account").csrf();
        let refused = mona.post(members, &[("csrf_token", &csrf), ("username", "intruder"), ("role", "admin"), ("create", "yes")]);
        assert_eq!(refused.status, 403);
        assert_eq!(refused.attr("input#secret", "value"), None);
    }

    fn admins_register_rotate_edit_and_delete_oauth_clients(db: TestDb) {
        let w = World::new(db);
        let clients = "/console/orgs/acme/clients";
        let ada = Browser::signed_in(&w, "ada");
        let list = ada.get(clients);
        assert_eq!(list.h1(), "OAuth clients");
        assert_eq!(list.select_all("main a.button"), ["Register client"]);
        let form = ada.get(&format!("{clients}/new"));
        assert_eq!(form.h1(), "Register client");
        let csrf = form.csrf();
        let registered = ada.post(&format!("{clients}/new"), &[
            ("csrf_token", csrf.as_str()), ("name", "Partner portal"),
            ("redirect_uris", "https://partner.example.com/cb\nhttp://127.0.0.1:9999/cb"),
            ("type", "confidential"), ("scopes", "claims:read"),
        ]);
        assert_eq!(registered.status, 200, "{}", registered.html);
        assert_eq!(registered.h1(), "Copy your client secret now");
        assert!(registered.select_all("label").iter().any(|l| l == "Client secret"));
        let secret_one = secret(&registered);
        assert!(secret_one.starts_with("tsr_cs_"));
        let details_path = registered.attr("main a[href*='/clients/']", "href").unwrap();
        let details_path = details_path.split('?').next().unwrap().to_string();
        let details = ada.get(&details_path);
        let client_id = details.select_all("dd code")[0].clone();
        assert!(!details.html.contains(&secret_one));
        // The secret authenticates the client (introspection needs a confidential client).
        let introspect = |secret: &str| {
            w.app().post(w.server.url("/oauth/introspect"))
                .basic_auth(&client_id, Some(secret))
                .form(&[("token", "nothing")])
                .send().unwrap().status().as_u16()
        };
        assert_eq!(introspect(&secret_one), 200);
        // Rotate with no grace: only the new secret works.
        let rotate = ada.get(&format!("{details_path}/rotate-secret"));
        assert_eq!(rotate.h1(), "Rotate the secret of Partner portal");
        let rotated = ada.post(&format!("{details_path}/rotate-secret"), &[("csrf_token", &rotate.csrf()), ("grace", "0s")]);
        assert_eq!(rotated.status, 200, "{}", rotated.html);
        let csrf = ada.get("/console/account").csrf();
        let secret_two = secret(&rotated);
        assert_eq!(introspect(&secret_two), 200);
        assert_eq!(introspect(&secret_one), 401);
        // Edit, then delete.
        let saved = ada.post(&format!("{details_path}/edit"), &[
            ("csrf_token", csrf.as_str()), ("name", "Partner portal v2"),
            ("redirect_uris", "https://partner.example.com/cb"), ("scopes", "claims:read"),
        ]);
        assert_eq!(saved.status, 303, "{}", saved.html);
        assert_eq!(ada.get(&details_path).h1(), "Partner portal v2");
        let delete = ada.get(&format!("{details_path}/delete"));
        assert_eq!(delete.h1(), "Delete Partner portal v2?");
        let deleted = ada.post(&format!("{details_path}/delete"), &[("csrf_token", &csrf)]);
        assert_eq!(deleted.status, 303);
        assert_eq!(deleted.location(), format!("{clients}?done=deleted"));
        assert_eq!(introspect(&secret_two), 401);
        // A public client has no secret to show.
        let public = ada.post(&format!("{clients}/new"), &[
            ("csrf_token", csrf.as_str()), ("name", "Partner SPA"),
            ("redirect_uris", "http://127.0.0.1:9999/cb"), ("type", "public"), ("scopes", "claims:read"),
        ]);
        assert_eq!(public.status, 303, "{}", public.html);
        let audit = ada.get("/console/orgs/acme/audit?actor=ada");
        for page in [&audit, &ada.get(clients)] {
            assert!(!page.html.contains(&secret_one) && !page.html.contains(&secret_two));
        }
        // A manager sees why, and cannot register one.
        let mona = Browser::signed_in(&w, "mona");
        assert!(mona.get(clients).html.contains("admin or owner"));
        let csrf = mona.get("/console/account").csrf();
        let refused = mona.post(&format!("{clients}/new"), &[
            ("csrf_token", csrf.as_str()), ("name", "Sneaky"),
            ("redirect_uris", "https://evil.example.com/cb"), ("type", "confidential"), ("scopes", "claims:read"),
        ]);
        assert_eq!(refused.status, 403);
        assert_eq!(refused.attr("input#secret", "value"), None);
    }

    fn the_assets_are_served_from_the_binary(db: TestDb) {
        let w = World::new(db);
        let page = Browser::new(&w).get("/console");
        for (css, content_type, needle) in [
            ("script[src]", "text/javascript", "navigator.clipboard"),
            ("link[rel=stylesheet]", "text/css", "focus-visible"),
        ] {
            let attr = if css.starts_with("script") { "src" } else { "href" };
            let url = page.attr(css, attr).unwrap();
            let res = w.app().get(w.server.url(&url)).send().unwrap();
            assert_eq!(res.status(), 200);
            let ct = res.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
            assert!(ct.starts_with(content_type), "{ct}");
            let cache = res.headers()["cache-control"].to_str().unwrap().to_string();
            assert!(cache.contains("max-age=31536000"), "{cache}");
            assert!(res.text().unwrap().contains(needle));
        }
        let missing = Browser::new(&w).get("/console/nowhere");
        assert_eq!(missing.status, 404);
        assert_eq!(missing.h1(), "Page not found");
        // A path that is no slug is no organization: a page, never a header it cannot carry.
        let odd = Browser::new(&w).get("/console/orgs/%C3%A9");
        assert_eq!(odd.status, 404);
        odd.assert_secure();
    }
}
