//! The consent page as the person in front of it sees it: whose account it speaks for, a way
//! out for someone else ("Not you?" signs out and returns to the same request), and, for a
//! user in several organizations, one choice per organization with only what the app gets
//! there.

use diesel::prelude::*;
use reqwest::blocking::Client as Http;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use serde_json::Value;
use url::Url;

use crate::oauth_support::{Form, PASSWORD, Pkce, REDIRECT, World, query};
use crate::on_both_backends;

/// A form of a page with what a person sees of it: the scopes it lists and its submit buttons
/// (inside it, or outside it naming it with `form=`), as `(value, text)`.
struct PageForm {
    form: Form,
    id: Option<String>,
    scopes: Vec<String>,
    buttons: Vec<(String, String)>,
}

fn forms(html: &str) -> Vec<PageForm> {
    let doc = scraper::Html::parse_document(html);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let (form_sel, hidden_sel, scope_sel, button_sel) = (
        sel("form"),
        sel("input[type=hidden]"),
        sel("ul.scopes li code"),
        sel("button"),
    );
    let text = |el: scraper::ElementRef| el.text().collect::<String>().trim().to_string();
    let button = |b: scraper::ElementRef| {
        assert_eq!(b.value().attr("type"), Some("submit"), "{}", b.html());
        (b.value().attr("value").unwrap_or("").to_string(), text(b))
    };
    doc.select(&form_sel)
        .map(|f| {
            let id = f.value().attr("id").map(str::to_string);
            let fields = f
                .select(&hidden_sel)
                .map(|i| {
                    let el = i.value();
                    (
                        el.attr("name").unwrap().to_string(),
                        el.attr("value").unwrap_or("").to_string(),
                    )
                })
                .collect();
            let mut buttons: Vec<_> = f.select(&button_sel).map(button).collect();
            if let Some(id) = &id {
                buttons.extend(
                    doc.select(&button_sel)
                        .filter(|b| b.value().attr("form") == Some(id.as_str()))
                        .map(button),
                );
            }
            PageForm {
                form: Form {
                    action: f.value().attr("action").unwrap().to_string(),
                    fields,
                },
                id,
                scopes: f.select(&scope_sel).map(text).collect(),
                buttons,
            }
        })
        .collect()
}

/// The authorization request for the confidential client, with PKCE.
fn request(w: &World, scope: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("scope", scope),
        ("state", "st-1"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    w.authorize_url(&w.client_id, &params)
}

/// Signs in on the sign-in page the request shows and returns the consent page's HTML.
fn sign_in_to_consent(w: &World, browser: &Http, user: &str, url: &str) -> String {
    let html = browser.get(url).send().unwrap().text().unwrap();
    let login = Form::parse(&html);
    assert_eq!(login.action, "/oauth/login", "{html}");
    let res = login
        .with("username", user)
        .with("password", PASSWORD)
        .submit(browser, &w.server);
    assert_eq!(res.status(), 303);
    let back = res.headers()[LOCATION].to_str().unwrap().to_string();
    let res = browser.get(w.server.url(&back)).send().unwrap();
    assert_eq!(res.status(), 200);
    res.text().unwrap()
}

fn sessions_of(w: &World, user: &str) -> i64 {
    use tessera::store::schema::{sessions, users};
    let mut conn = w.db.conn();
    sessions::table
        .inner_join(users::table)
        .filter(users::username.eq(user))
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

fn sign_out_form(html: &str) -> PageForm {
    let mut found: Vec<PageForm> = forms(html)
        .into_iter()
        .filter(|f| f.form.action == "/oauth/logout")
        .collect();
    assert_eq!(found.len(), 1, "one sign-out form in {html}");
    found.remove(0)
}

/// Exchanges a code from the redirect `back` and introspects the access token.
fn exchange_and_introspect(w: &World, back: &Url, pkce: &Pkce) -> (Value, Value) {
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    let code = query(back, "code").unwrap_or_else(|| panic!("code in {back}"));
    let (status, body, _) = w.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &pkce.verifier),
    ]);
    assert_eq!(status, 200, "{body}");
    let intro = w.introspect(body["access_token"].as_str().unwrap());
    assert_eq!(intro["active"], true, "{intro}");
    (body, intro)
}

on_both_backends! {
    fn the_consent_page_names_the_account_and_offers_to_sign_out(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let pkce = Pkce::new();
        let url = request(&w, "claims:read", &pkce, &[]);
        let html = sign_in_to_consent(&w, &browser, "alice", &url);
        assert!(html.contains("Signed in as <strong>alice</strong>"), "{html}");

        // The approval comes first, as before: one form, one organization, Approve and Deny.
        let all = forms(&html);
        let consent = &all[0];
        assert_eq!(consent.form.action, "/oauth/authorize");
        assert_eq!(consent.form.get("org"), Some("acme"));
        assert_eq!(consent.scopes, ["claims:read"]);
        assert_eq!(
            consent.buttons,
            [("approve".to_string(), "Approve".to_string()), ("deny".to_string(), "Deny".to_string())]
        );
        assert!(!html.contains("<select"), "{html}");

        // "Not you?": a POST to the sign-out path with the session's own anti-forgery token and
        // the authorization request, to come back to.
        let out = sign_out_form(&html);
        assert!(out.id.is_some());
        assert_eq!(out.buttons.len(), 1, "one button signs out");
        assert_eq!(out.buttons[0].1, "Not you? Sign in as someone else");
        assert_eq!(out.form.get("csrf_token"), consent.form.get("csrf_token"));
        let requested = Url::parse(&url).unwrap();
        for (k, v) in requested.query_pairs() {
            assert_eq!(out.form.get(&k), Some(v.as_ref()), "{k} in the sign-out form");
        }
        assert_eq!(out.form.get("org"), None);
        assert_eq!(out.form.get("decision"), None);
    }

    fn signing_out_ends_the_session_and_returns_to_the_sign_in_page(db: TestDb) {
        let w = World::new(db);
        let browser = w.browser();
        let pkce = Pkce::new();
        let url = request(&w, "claims:read", &pkce, &[]);
        // The session cookie's value, to replay it later as a leftover copy would be.
        let html = browser.get(&url).send().unwrap().text().unwrap();
        let res = Form::parse(&html)
            .with("username", "alice")
            .with("password", PASSWORD)
            .submit(&browser, &w.server);
        let set = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
        let old_cookie = set.split(';').next().unwrap().to_string();
        assert!(old_cookie.starts_with("tessera_session="), "{set}");
        let html = browser
            .get(w.server.url(res.headers()[LOCATION].to_str().unwrap()))
            .send().unwrap().text().unwrap();
        assert_eq!(sessions_of(&w, "alice"), 1);
        let out = sign_out_form(&html);

        // Forged (a well-formed token that is not the session's) or missing: 403, and the
        // session goes on.
        for forged in [
            out.form.fields.iter().cloned().map(|(k, v)| if k == "csrf_token" { (k, "A".repeat(32)) } else { (k, v) }).collect::<Vec<_>>(),
            out.form.fields.iter().filter(|(k, _)| k != "csrf_token").cloned().collect(),
        ] {
            let res = Form { action: out.form.action.clone(), fields: forged }.submit(&browser, &w.server);
            assert_eq!(res.status(), 403);
            assert!(res.headers().get(SET_COOKIE).is_none(), "the cookie stays");
            assert!(res.text().unwrap().contains("still signed in"));
            assert_eq!(sessions_of(&w, "alice"), 1);
        }
        let res = browser.get(&url).send().unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().unwrap().contains("Signed in as <strong>alice</strong>"), "still signed in");

        // The real form: the row is gone, the cookie is cleared, and the browser goes back to
        // the same authorization request.
        let res = out.form.submit(&browser, &w.server);
        assert_eq!(res.status(), 303);
        let cleared = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
        assert!(cleared.starts_with("tessera_session=;"), "{cleared}");
        assert!(cleared.contains("Max-Age=0") && cleared.contains("Path=/") && cleared.contains("HttpOnly"), "{cleared}");
        assert_eq!(sessions_of(&w, "alice"), 0);
        let location = res.headers()[LOCATION].to_str().unwrap().to_string();
        assert!(location.starts_with("/oauth/authorize?"), "{location}");
        let back = Url::parse(&w.server.url(&location)).unwrap();
        let mut returned: Vec<_> = back.query_pairs().into_owned().collect();
        let mut requested: Vec<_> = Url::parse(&url).unwrap().query_pairs().into_owned().collect();
        returned.sort();
        requested.sort();
        assert_eq!(returned, requested, "the same authorization request");

        // The next person sees the sign-in page for the same app, …
        let res = browser.get(w.server.url(&location)).send().unwrap();
        assert_eq!(res.status(), 200);
        let html = res.text().unwrap();
        assert_eq!(Form::parse(&html).action, "/oauth/login", "{html}");
        assert!(html.contains("Claims &lt;App&gt;"));
        // … a leftover copy of the old cookie signs no one in, …
        let res = w.app().get(&url).header("cookie", &old_cookie).send().unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(Form::parse(&res.text().unwrap()).action, "/oauth/login");
        // … and the next person approves as themself.
        let html = sign_in_to_consent(&w, &browser, "mona", &url);
        assert!(html.contains("Signed in as <strong>mona</strong>"), "{html}");
        let res = Form::parse(&html).with("decision", "approve").submit(&browser, &w.server);
        let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        exchange_and_introspect(&w, &back, &pkce);
        assert_eq!(sessions_of(&w, "mona"), 1);

        // Without an authorization request in the form: a "Signed out" page.
        let html = browser.get(format!("{url}&prompt=consent")).send().unwrap().text().unwrap();
        let csrf = sign_out_form(&html).form.get("csrf_token").unwrap().to_string();
        let res = Form { action: "/oauth/logout".into(), fields: vec![("csrf_token".into(), csrf)] }
            .submit(&browser, &w.server);
        assert_eq!(res.status(), 200);
        assert!(res.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(res.text().unwrap().contains("<h1>Signed out</h1>"));
        assert_eq!(sessions_of(&w, "mona"), 0);

        // Signing out with no session ends nothing and says so just the same; GET is not a
        // way to sign out.
        let res = w.app().post(w.server.url("/oauth/logout"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded").body("").send().unwrap();
        assert_eq!(res.status(), 200);
        let res = w.app().get(w.server.url("/oauth/logout")).send().unwrap();
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()["allow"], "POST");
    }

    fn a_user_in_two_organizations_approves_in_one_with_only_its_scopes(db: TestDb) {
        let w = World::new(db);
        // olga: a member of acme (claims:read only) and a manager of globex (read and write).
        w.db.cli_with_stdin(
            &["--json", "user", "create", "olga", "--org", "acme", "--role", "member", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        ).json();
        {
            use tessera::store::schema::{memberships, organizations, users};
            let mut conn = w.db.conn();
            let user_id: i64 = users::table.filter(users::username.eq("olga")).select(users::id).first(&mut *conn).unwrap();
            let org_id: i64 = organizations::table.filter(organizations::slug.eq("globex")).select(organizations::id).first(&mut *conn).unwrap();
            diesel::insert_into(memberships::table)
                .values((
                    memberships::user_id.eq(user_id),
                    memberships::org_id.eq(org_id),
                    memberships::role.eq("manager"),
                    memberships::created_at.eq(chrono::Utc::now().naive_utc()),
                ))
                .execute(&mut *conn)
                .unwrap();
        }
        let browser = w.browser();
        let pkce = Pkce::new();
        let url = request(&w, "claims:read claims:write", &pkce, &[]);
        let html = sign_in_to_consent(&w, &browser, "olga", &url);
        assert!(!html.contains("<select"), "no drop-down over every organization's scopes: {html}");
        assert!(html.contains("Signed in as <strong>olga</strong>"));
        assert!(html.contains("Claims &lt;App&gt;") && !html.contains("Claims <App>"), "escaped: {html}");

        // One form per organization: its org, only its grantable scopes, its own approve button.
        let all = forms(&html);
        let per_org: Vec<&PageForm> = all.iter().filter(|f| f.form.get("org").is_some()).collect();
        let shown: Vec<String> = per_org
            .iter()
            .map(|f| format!("{}: {} {:?}", f.form.get("org").unwrap(), f.scopes.join(" "), f.buttons))
            .collect();
        assert_eq!(shown, [
            r#"acme: claims:read [("approve", "Approve for Acme Inc")]"#,
            r#"globex: claims:read claims:write [("approve", "Approve for globex")]"#,
        ]);
        for f in &per_org {
            assert_eq!(f.form.action, "/oauth/authorize");
            assert!(f.form.get("csrf_token").is_some());
        }
        // The first form is an approval (what `World::authorize_as` submits); one Deny for all.
        assert_eq!(all[0].form.get("org"), Some("acme"));
        let deny: Vec<&PageForm> = all.iter().filter(|f| f.buttons.iter().any(|(v, _)| v == "deny")).collect();
        assert_eq!(deny.len(), 1);
        assert_eq!((deny[0].form.action.as_str(), deny[0].form.get("org")), ("/oauth/authorize", None));
        // Each organization's section is headed by its name, and says what its role withholds.
        assert!(html.contains("<h2 id=\"org-0\">Acme Inc</h2>") && html.contains("<h2 id=\"org-1\">globex</h2>"), "{html}");
        assert!(html.contains("Not granted (your role does not allow it): <code>claims:write</code>"));
        sign_out_form(&html);

        // Approving in globex: a token for globex with globex's scopes.
        let globex = per_org[1].form.clone_fields().with("decision", "approve");
        let res = globex.submit(&browser, &w.server);
        assert_eq!(res.status(), 303);
        let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        let (body, intro) = exchange_and_introspect(&w, &back, &pkce);
        assert_eq!(body["scope"], "claims:read claims:write");
        assert_eq!((intro["org"].as_str(), intro["scope"].as_str()), (Some("globex"), Some("claims:read claims:write")));

        // Asked again, approving in acme: acme with acme's scope only.
        let pkce = Pkce::new();
        let url = request(&w, "claims:read claims:write", &pkce, &[("prompt", "consent")]);
        let html = browser.get(&url).send().unwrap().text().unwrap();
        let acme = forms(&html).into_iter().find(|f| f.form.get("org") == Some("acme")).unwrap();
        let res = acme.form.with("decision", "approve").submit(&browser, &w.server);
        let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        let (body, intro) = exchange_and_introspect(&w, &back, &pkce);
        assert_eq!(body["scope"], "claims:read");
        assert_eq!((intro["org"].as_str(), intro["scope"].as_str()), (Some("acme"), Some("claims:read")));

        // The test browser's helper still approves a multi-organization page: in the first.
        let pkce = Pkce::new();
        let url = request(&w, "claims:read claims:write", &pkce, &[("prompt", "consent")]);
        let back = w.authorize_as(&browser, "olga", &url);
        let (_, intro) = exchange_and_introspect(&w, &back, &pkce);
        assert_eq!(intro["org"], "acme");
    }

    fn a_management_scope_asks_for_the_password_again_after_the_window(db: TestDb) {
        let w = World::new(db);
        let (client_id, secret) = w.console.clone();
        let browser = w.browser();
        w.tokens_for_client(&browser, "ada", "integrations:manage", &client_id, &secret);
        // The password was typed an hour ago (TESSERA_REAUTH_WINDOW is 10 minutes).
        let hour_ago = (chrono::Utc::now().naive_utc() - chrono::TimeDelta::hours(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        diesel::sql_query(format!(
            "UPDATE sessions SET authenticated_at = '{hour_ago}'"
        ))
        .execute(&mut *w.db.conn())
        .unwrap();
        let pkce = Pkce::new();
        let page_for = |scope: &str| {
            let url = w.authorize_url(
                &client_id,
                &[
                    ("scope", scope),
                    ("state", "s"),
                    ("code_challenge", &pkce.challenge),
                    ("code_challenge_method", "S256"),
                ],
            );
            let res = browser.get(&url).send().unwrap();
            (res.status().as_u16(), res.text().unwrap())
        };
        // An app's ordinary scope: the session goes on (here to the consent page).
        let (status, html) = page_for("claims:read");
        assert_eq!(status, 200);
        assert_eq!(Form::parse(&html).action, "/oauth/authorize", "{html}");
        // A management scope, approved before: not silently — sign in again first.
        let (status, html) = page_for("integrations:manage");
        assert_eq!(status, 200);
        assert_eq!(Form::parse(&html).action, "/oauth/login", "{html}");
        // Signing in again gives the code.
        let body = w.tokens_for_client(&browser, "ada", "integrations:manage", &client_id, &secret);
        assert!(body["access_token"].is_string());
    }
}

impl Form {
    fn clone_fields(&self) -> Form {
        Form {
            action: self.action.clone(),
            fields: self.fields.clone(),
        }
    }
}
