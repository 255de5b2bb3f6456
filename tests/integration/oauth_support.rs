//! An OAuth world for tests: an organization with users of different roles, scopes, a
//! confidential and a public client, and a browser that signs in and answers consent pages by
//! reading the HTML the server sends, as a person's browser would.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::blocking::{Client as Http, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::support::{TestDb, TestServer};

pub(crate) const REDIRECT: &str = "http://127.0.0.1:9999/cb";
pub(crate) const PASSWORD: &str = "correct-horse-battery";

pub(crate) struct World {
    pub server: TestServer,
    pub db: TestDb,
    pub client_id: String,
    pub client_secret: String,
    pub public_id: String,
    /// A confidential client allowed the management scopes.
    pub console: (String, String),
}

impl World {
    pub(crate) fn new(db: TestDb) -> World {
        Self::with_config(db, &[])
    }

    pub(crate) fn with_config(db: TestDb, extra: &[(&str, &str)]) -> World {
        db.cli(&["--json", "org", "create", "acme", "--name", "Acme Inc"])
            .json();
        db.cli(&["--json", "org", "create", "globex"]).json();
        db.cli(&[
            "--json",
            "scope",
            "create",
            "claims:read",
            "--description",
            "Read your claims",
            "--min-role",
            "member",
        ])
        .json();
        db.cli(&[
            "--json",
            "scope",
            "create",
            "claims:write",
            "--description",
            "File and edit claims",
            "--min-role",
            "manager",
        ])
        .json();
        for (user, org, role) in [
            ("alice", "acme", "member"),
            ("mona", "acme", "manager"),
            ("ada", "acme", "admin"),
            ("gina", "globex", "owner"),
        ] {
            db.cli_with_stdin(
                &[
                    "--json",
                    "user",
                    "create",
                    user,
                    "--org",
                    org,
                    "--role",
                    role,
                    "--password-stdin",
                ],
                Some(&format!("{PASSWORD}\n")),
            )
            .json();
        }
        let conf = db
            .cli(&[
                "--json",
                "client",
                "create",
                "--org",
                "acme",
                "--name",
                "Claims <App>",
                "--redirect-uri",
                REDIRECT,
                "--redirect-uri",
                "https://app.example.com/cb",
                "--scope",
                "claims:read claims:write",
            ])
            .json();
        let public = db
            .cli(&[
                "--json",
                "client",
                "create",
                "--org",
                "acme",
                "--name",
                "Claims SPA",
                "--redirect-uri",
                REDIRECT,
                "--scope",
                "claims:read",
                "--public",
            ])
            .json();
        let console = db
            .cli(&[
                "--json",
                "client",
                "create",
                "--org",
                "acme",
                "--name",
                "Admin console",
                "--redirect-uri",
                REDIRECT,
                "--scope",
                "integrations:manage webhooks:manage audit:read claims:read",
            ])
            .json();
        let server = TestServer::start(db.config_with(extra));
        World {
            server,
            db,
            client_id: conf["client_id"].as_str().unwrap().into(),
            client_secret: conf["client_secret"].as_str().unwrap().into(),
            public_id: public["client_id"].as_str().unwrap().into(),
            console: (
                console["client_id"].as_str().unwrap().into(),
                console["client_secret"].as_str().unwrap().into(),
            ),
        }
    }

    /// An integration of org `acme` with scope `claims:read`, made by the CLI (`extra`: more
    /// arguments of `integration create`): its id and its token.
    pub(crate) fn create_integration(&self, name: &str, extra: &[&str]) -> (String, String) {
        let mut args = vec![
            "--json",
            "integration",
            "create",
            "--org",
            "acme",
            "--name",
            name,
            "--scope",
            "claims:read",
        ];
        args.extend_from_slice(extra);
        let out = self.db.cli(&args).json();
        (
            out["id"].as_str().unwrap().to_string(),
            out["token"].as_str().unwrap().to_string(),
        )
    }

    /// An access token for the management API, obtained through the console client.
    pub(crate) fn management_token(&self, user: &str, scope: &str) -> String {
        let (id, secret) = &self.console;
        let body = self.tokens_for_client(&self.browser(), user, scope, id, secret);
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Stops the server and starts a new one on the same database.
    pub(crate) fn restart(self, extra: &[(&str, &str)]) -> World {
        let World {
            server,
            db,
            client_id,
            client_secret,
            public_id,
            console,
        } = self;
        drop(server);
        let server = TestServer::start(db.config_with(extra));
        World {
            server,
            db,
            client_id,
            client_secret,
            public_id,
            console,
        }
    }

    pub(crate) fn browser(&self) -> Http {
        self.server.client()
    }

    /// An HTTP client without cookies, like a server-side app calling the token endpoint.
    pub(crate) fn app(&self) -> Http {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub(crate) fn authorize_url(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let mut url = Url::parse(&self.server.url("/oauth/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT);
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        url.to_string()
    }

    pub(crate) fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.client_id, self.client_secret))
        )
    }

    /// POSTs a form to the token endpoint with Basic client authentication.
    pub(crate) fn token(&self, form: &[(&str, &str)]) -> (u16, Value, reqwest::header::HeaderMap) {
        let res = self
            .app()
            .post(self.server.url("/oauth/token"))
            .header(AUTHORIZATION, self.basic())
            .form(form)
            .send()
            .unwrap();
        split(res)
    }

    pub(crate) fn token_unauthenticated(
        &self,
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        split(
            self.app()
                .post(self.server.url("/oauth/token"))
                .form(form)
                .send()
                .unwrap(),
        )
    }

    pub(crate) fn introspect(&self, token: &str) -> Value {
        let res = self
            .app()
            .post(self.server.url("/oauth/introspect"))
            .header(AUTHORIZATION, self.basic())
            .form(&[("token", token)])
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().unwrap()
    }

    /// Signs in (if asked), approves consent (if asked), and returns where the server sent the
    /// browser back to the client.
    pub(crate) fn authorize_as(&self, browser: &Http, user: &str, url: &str) -> Url {
        let mut res = browser.get(url).send().unwrap();
        for _ in 0..4 {
            if let Some(location) = res.headers().get(LOCATION) {
                let location = location.to_str().unwrap().to_string();
                // Tessera's own steps redirect to relative paths; the answer to the client is
                // an absolute URI.
                if location.starts_with("http://") || location.starts_with("https://") {
                    return Url::parse(&location).unwrap();
                }
                res = browser.get(self.server.url(&location)).send().unwrap();
                continue;
            }
            let status = res.status();
            let html = res.text().unwrap();
            assert_eq!(status, 200, "unexpected page: {html}");
            let form = Form::parse(&html);
            res = if form.action == "/oauth/login" {
                form.with("username", user)
                    .with("password", PASSWORD)
                    .submit(browser, &self.server)
            } else {
                form.with("decision", "approve")
                    .submit(browser, &self.server)
            };
        }
        panic!("authorization did not finish");
    }

    /// The whole code flow for the confidential client with PKCE; returns the token response.
    pub(crate) fn tokens_for(&self, browser: &Http, user: &str, scope: &str) -> Value {
        self.tokens_for_client(browser, user, scope, &self.client_id, &self.client_secret)
    }

    pub(crate) fn tokens_for_client(
        &self,
        browser: &Http,
        user: &str,
        scope: &str,
        client_id: &str,
        secret: &str,
    ) -> Value {
        let pkce = Pkce::new();
        let url = self.authorize_url(
            client_id,
            &[
                ("scope", scope),
                ("state", "xyz"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let back = self.authorize_as(browser, user, &url);
        let code = query(&back, "code").expect("code in redirect");
        let res = self
            .app()
            .post(self.server.url("/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ])
            .send()
            .unwrap();
        let (status, body, _) = split(res);
        assert_eq!(status, 200, "{body}");
        body
    }
}

pub(crate) fn split(res: Response) -> (u16, Value, reqwest::header::HeaderMap) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}

pub(crate) fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub(crate) struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub(crate) fn new() -> Pkce {
        let verifier = tessera::tokens::secret::random_base62(64);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// The one form of a page, with its hidden fields, as a browser would submit it.
pub(crate) struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub(crate) fn parse(html: &str) -> Form {
        let doc = scraper::Html::parse_document(html);
        let form_sel = scraper::Selector::parse("form").unwrap();
        let input_sel = scraper::Selector::parse("input, select").unwrap();
        let form = doc
            .select(&form_sel)
            .next()
            .unwrap_or_else(|| panic!("no form in {html}"));
        let action = form.value().attr("action").unwrap().to_string();
        let mut fields = Vec::new();
        for input in form.select(&input_sel) {
            let el = input.value();
            let Some(name) = el.attr("name") else {
                continue;
            };
            if el.name() == "select" {
                let opt = scraper::Selector::parse("option").unwrap();
                let first = input
                    .select(&opt)
                    .next()
                    .and_then(|o| o.value().attr("value"))
                    .unwrap_or("");
                fields.push((name.to_string(), first.to_string()));
            } else if el.attr("type") == Some("hidden") {
                fields.push((name.to_string(), el.attr("value").unwrap_or("").to_string()));
            }
        }
        Form { action, fields }
    }

    pub(crate) fn with(mut self, name: &str, value: &str) -> Form {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.into(), value.into()));
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn submit(&self, browser: &Http, server: &TestServer) -> Response {
        browser
            .post(server.url(&self.action))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&self.fields).unwrap())
            .send()
            .unwrap()
    }
}

/// Verifies a JWT with nothing but the published JWKS, as a resource server would.
pub(crate) fn verify_with_jwks(server: &TestServer, token: &str, issuer: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::blocking::get(server.url("/.well-known/jwks.json"))
            .unwrap()
            .json()
            .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.clone().expect("kid");
    let jwk = jwks.find(&kid).expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[issuer]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}
