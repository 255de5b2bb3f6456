//! The authorization endpoint (RFC 6749 §4.1.1–4.1.2) with sign-in and consent.
//!
//! Steps for every request, GET or the consent form's POST:
//! 1. oxide-auth validates client, redirect URI (exact match), response type, scope and PKCE.
//!    An unknown client or URI gets an error page and is never redirected to (§4.1.2.1);
//!    any other error redirects with `error`, `state` and `iss` (RFC 9207).
//! 2. No live session: the sign-in page (`prompt=none`: `login_required`).
//! 3. Scopes are capped by the user's role in each of their organizations.
//! 4. Remembered consent covering the scopes (and no `prompt=consent`) issues a code at once;
//!    otherwise the consent page, whose POST approves (remembering it) or denies.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use oxide_auth::code_grant::authorization::{self as az, Error as AzError};
use oxide_auth::code_grant::error::AuthorizationErrorType;
use url::Url;

use super::pages::{self, ConsentPage, LoginPage, OrgChoice, ScopeLine};
use super::primitives::{Owner, StoreEndpoint, canonical_scope};
use super::session::{self, LOGIN_CSRF_COOKIE};
use super::{AUTHORIZE_PATH, OAuthContext, read_body};
use crate::http::AppState;
use crate::store::consents;
use crate::store::scopes::ScopeDef;
use crate::store::sessions::Session;
use crate::store::users::{Membership, User};
use crate::store::{DbConn, StoreError, write};
use crate::tokens::secret::SecretHash;
use crate::{passwords, validate};

const MAX_PARAMS: usize = 32;
const MAX_VALUE_LEN: usize = 2048;

/// The parameters of an authorization request, each at most once (RFC 6749 §3.1).
pub struct AuthorizeParams {
    pairs: Vec<(String, String)>,
    map: HashMap<String, String>,
}

impl AuthorizeParams {
    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, String> {
        if pairs.len() > MAX_PARAMS {
            return Err("too many parameters".into());
        }
        let mut map = HashMap::new();
        let mut kept = Vec::new();
        for (k, v) in pairs {
            if v.len() > MAX_VALUE_LEN || k.len() > 64 {
                return Err(format!("parameter {k:?} is too long"));
            }
            if map.contains_key(&k) {
                return Err(format!("parameter {k:?} appears more than once"));
            }
            if v.is_empty() {
                continue;
            }
            map.insert(k.clone(), v.clone());
            kept.push((k, v));
        }
        Ok(AuthorizeParams { pairs: kept, map })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Whether `prompt` (a space-separated list, as in OpenID Connect) holds `value`.
    fn prompts(&self, value: &str) -> bool {
        self.get("prompt")
            .is_some_and(|p| p.split(' ').any(|v| v == value))
    }

    /// The parameters with `login` dropped from `prompt`: once signed in, asking to sign in
    /// again would loop. `consent` stays: the user must still see the consent page.
    fn without_login_prompt(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter_map(|(k, v)| {
                if k != "prompt" {
                    return Some((k.clone(), v.clone()));
                }
                let rest: Vec<&str> = v
                    .split(' ')
                    .filter(|p| *p != "login" && !p.is_empty())
                    .collect();
                (!rest.is_empty()).then(|| (k.clone(), rest.join(" ")))
            })
            .collect()
    }

    /// The request again as a URL on this server, to return to after signing in.
    fn return_to(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(self.without_login_prompt());
        format!("{AUTHORIZE_PATH}?{}", ser.finish())
    }
}

impl az::Request for AuthorizeParams {
    fn valid(&self) -> bool {
        true
    }

    fn client_id(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("client_id").map(Into::into)
    }

    fn scope(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("scope").map(Into::into)
    }

    fn redirect_uri(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("redirect_uri").map(Into::into)
    }

    fn state(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("state").map(Into::into)
    }

    fn response_type(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get("response_type").map(Into::into)
    }

    fn extension(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.get(key).map(Into::into)
    }
}

/// The consent form's answer.
struct Submission {
    csrf_token: Option<String>,
    org: Option<String>,
    approve: bool,
}

/// What the endpoint answers.
enum Answer {
    /// Back to the client, with a code or an error.
    Redirect(Url),
    ErrorPage(StatusCode, &'static str, String),
    Login {
        client_name: String,
        return_to: String,
    },
    Consent(ConsentData),
}

struct ConsentData {
    client_name: String,
    client_org: String,
    username: String,
    orgs: Vec<OrgChoice>,
    params: Vec<(String, String)>,
    csrf: String,
}

pub async fn authorize_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let pairs: Vec<(String, String)> = match serde_urlencoded::from_str(req.query_string()) {
        Ok(p) => p,
        Err(_) => return bad_request_page("The authorization request cannot be read."),
    };
    respond(&req, &state, pairs, None, StatusCode::FOUND).await
}

/// The consent form posts the original request back with the user's decision.
pub async fn authorize_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Ok(body) = read_body(payload).await else {
        return bad_request_page("The form is too large.");
    };
    let Ok(mut pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return bad_request_page("The form cannot be read.");
    };
    let mut take = |name: &str| {
        pairs
            .iter()
            .position(|(k, _)| k == name)
            .map(|i| pairs.remove(i).1)
    };
    let submission = Submission {
        csrf_token: take("csrf_token"),
        org: take("org"),
        approve: take("decision").as_deref() == Some("approve"),
    };
    respond(&req, &state, pairs, Some(submission), StatusCode::SEE_OTHER).await
}

async fn respond(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    pairs: Vec<(String, String)>,
    submission: Option<Submission>,
    redirect_status: StatusCode,
) -> HttpResponse {
    let params = match AuthorizeParams::from_pairs(pairs) {
        Ok(p) => p,
        Err(message) => return bad_request_page(&message),
    };
    let session = session::session_hash(req);
    let ctx = state.oauth.clone();
    let answer = state
        .db
        .run(move |conn| decide(conn, &ctx, &params, session, submission))
        .await;
    match answer {
        Ok(Answer::Redirect(url)) => HttpResponse::build(redirect_status)
            .insert_header((header::LOCATION, url.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .finish(),
        Ok(Answer::ErrorPage(status, title, message)) => pages::error(status, title, &message),
        Ok(Answer::Login {
            client_name,
            return_to,
        }) => login_page(req, state, &client_name, &return_to, None, ""),
        Ok(Answer::Consent(c)) => pages::page(
            StatusCode::OK,
            pages::consent(&ConsentPage {
                client_name: &c.client_name,
                client_org: &c.client_org,
                username: &c.username,
                orgs: &c.orgs,
                params: &c.params,
                csrf: &c.csrf,
            }),
        ),
        Err(e) => {
            tracing::warn!(cause = %e, "authorization request failed on the store");
            pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The service cannot answer right now. Please try again in a moment.",
            )
        }
    }
}

fn bad_request_page(message: &str) -> HttpResponse {
    pages::error(StatusCode::BAD_REQUEST, "Invalid request", message)
}

/// RFC 9207: every authorization response names its issuer.
fn with_iss(mut url: Url, issuer: &str) -> Url {
    url.query_pairs_mut().append_pair("iss", issuer);
    url
}

/// An error redirect back to the client with `state` and `iss` (RFC 6749 §4.1.2.1).
fn error_redirect(
    pending: &az::Pending,
    ctx: &OAuthContext,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Answer {
    let mut url = pending.pre_grant().redirect_uri.to_url();
    url.query_pairs_mut()
        .append_pair("error", error)
        .append_pair("error_description", description);
    if let Some(s) = state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Answer::Redirect(with_iss(url, &ctx.config.issuer))
}

fn decide(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    params: &AuthorizeParams,
    session_hash: Option<SecretHash>,
    submission: Option<Submission>,
) -> Result<Answer, StoreError> {
    let mut endpoint = StoreEndpoint::new(conn, ctx);
    // Step 1: validation by oxide-auth.
    let pending = match az::authorization_code(&mut endpoint, params) {
        Ok(p) => p,
        Err(AzError::Ignore) => {
            if let Some(e) = endpoint.store_error.take() {
                return Err(e);
            }
            return Ok(Answer::ErrorPage(
                StatusCode::BAD_REQUEST,
                "Invalid authorization request",
                "The application is unknown, or the redirect URI is not registered for it. \
                 Nothing was sent back to the application."
                    .into(),
            ));
        }
        Err(AzError::Redirect(mut e)) => {
            if let Some(err) = endpoint.store_error.take() {
                return Err(err);
            }
            if endpoint.pkce_failed.get() {
                e.description().explain(
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                );
            } else if e.description().kind() == AuthorizationErrorType::InvalidScope {
                e.description()
                    .explain("the scope is unknown or not registered for this client");
            }
            return Ok(Answer::Redirect(with_iss(e.into(), &ctx.config.issuer)));
        }
        Err(AzError::PrimitiveError) => {
            return Err(endpoint
                .store_error
                .take()
                .unwrap_or_else(|| StoreError::Unavailable("authorization flow failed".into())));
        }
    };
    let client = endpoint
        .client()
        .ok_or_else(|| StoreError::Unavailable("client vanished during the request".into()))?;
    let state = params.get("state");

    // Step 2: who is signed in.
    let session = match &session_hash {
        Some(hash) => endpoint.run(|conn| Session::find_live(conn, hash))?,
        None => None,
    };
    let session = match session {
        Some(s) if !(params.prompts("login") && submission.is_none()) => s,
        _ => {
            if params.prompts("none") {
                return Ok(error_redirect(
                    &pending,
                    ctx,
                    state,
                    "login_required",
                    "the user is not signed in",
                ));
            }
            return Ok(Answer::Login {
                client_name: client.name.clone(),
                return_to: params.return_to(),
            });
        }
    };

    // Step 3: what this user may grant, per organization.
    let memberships = endpoint.run(|conn| User::memberships(conn, session.user_id))?;
    let requested: Vec<String> = pending
        .pre_grant()
        .scope
        .iter()
        .map(str::to_string)
        .collect();
    let defs = endpoint.run(|conn| ScopeDef::find_many(conn, &requested))?;
    let choices: Vec<(Membership, OrgChoice)> = memberships
        .into_iter()
        .map(|m| {
            let choice = org_choice(&m, &requested, &defs);
            (m, choice)
        })
        .collect();
    if choices.iter().all(|(_, c)| c.grantable.is_empty()) {
        return Ok(error_redirect(
            &pending,
            ctx,
            state,
            "access_denied",
            "the user's role does not allow any of the requested scopes",
        ));
    }

    // Step 4: consent.
    let chosen = match submission {
        Some(form) => {
            if !session::csrf_matches(&session.csrf_token, form.csrf_token.as_deref()) {
                return Ok(Answer::ErrorPage(
                    StatusCode::FORBIDDEN,
                    "Form expired",
                    "This consent form is no longer valid. Go back to the application and start again.".into(),
                ));
            }
            if !form.approve {
                return Ok(error_redirect(
                    &pending,
                    ctx,
                    state,
                    "access_denied",
                    "the user denied the request",
                ));
            }
            let Some((m, c)) = choices
                .iter()
                .find(|(m, _)| Some(&m.org_slug) == form.org.as_ref())
            else {
                return Ok(Answer::ErrorPage(
                    StatusCode::BAD_REQUEST,
                    "Invalid organization",
                    "Choose one of your organizations.".into(),
                ));
            };
            if c.grantable.is_empty() {
                return Ok(error_redirect(
                    &pending,
                    ctx,
                    state,
                    "access_denied",
                    "the user's role in this organization does not allow any of the requested scopes",
                ));
            }
            let scopes: Vec<String> = c.grantable.iter().map(|s| s.name.clone()).collect();
            let (user_id, client_pk, org_id, remembered) =
                (session.user_id, client.id, m.org_id, scopes.clone());
            endpoint.run(|conn| {
                write(conn, move |conn| {
                    consents::remember(conn, user_id, client_pk, org_id, &remembered)
                })
            })?;
            (m.org_id, scopes)
        }
        None => {
            let remembered = if params.prompts("consent") {
                None
            } else {
                let consents = endpoint
                    .run(|conn| consents::for_user_and_client(conn, session.user_id, client.id))?;
                consents.into_iter().find_map(|consent| {
                    let (m, c) = choices.iter().find(|(m, _)| m.org_id == consent.org_id)?;
                    let covered = !c.grantable.is_empty()
                        && c.grantable.iter().all(|s| consent.scopes.contains(&s.name));
                    covered.then(|| {
                        (
                            m.org_id,
                            c.grantable
                                .iter()
                                .map(|s| s.name.clone())
                                .collect::<Vec<_>>(),
                        )
                    })
                })
            };
            match remembered {
                Some(found) => found,
                None if params.prompts("none") => {
                    return Ok(error_redirect(
                        &pending,
                        ctx,
                        state,
                        "consent_required",
                        "the user has not approved this application",
                    ));
                }
                None => {
                    return Ok(Answer::Consent(ConsentData {
                        client_name: client.name.clone(),
                        client_org: client.org.clone(),
                        username: session.username.clone(),
                        orgs: choices
                            .into_iter()
                            .map(|(_, c)| c)
                            .filter(|c| !c.grantable.is_empty())
                            .collect(),
                        params: params.without_login_prompt(),
                        csrf: session.csrf_token.clone(),
                    }));
                }
            }
        }
    };

    // Issue the code, bound to user, organization and the capped scope.
    let (org_id, scopes) = chosen;
    endpoint.owner = Some(Owner {
        user_id: session.user_id,
        org_id,
        scope: canonical_scope(scopes.iter().map(String::as_str)),
    });
    match pending.authorize(&mut endpoint, session.user_id.to_string().into()) {
        Ok(url) => Ok(Answer::Redirect(with_iss(url, &ctx.config.issuer))),
        Err(_) => Err(endpoint.store_error.take().unwrap_or_else(|| {
            StoreError::Unavailable("could not issue an authorization code".into())
        })),
    }
}

/// Splits the requested scopes into those the member's role allows and those it does not.
fn org_choice(m: &Membership, requested: &[String], defs: &[ScopeDef]) -> OrgChoice {
    let mut grantable = Vec::new();
    let mut withheld = Vec::new();
    for name in requested {
        match defs.iter().find(|d| &d.name == name) {
            Some(d) if m.role.allows(d.min_role) => grantable.push(ScopeLine {
                name: d.name.clone(),
                description: d.description.clone(),
            }),
            _ => withheld.push(name.clone()),
        }
    }
    OrgChoice {
        slug: m.org_slug.clone(),
        name: m.org_name.clone(),
        grantable,
        withheld,
    }
}

fn login_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    client_name: &str,
    return_to: &str,
    error: Option<&str>,
    username: &str,
) -> HttpResponse {
    // Keep an existing token (several tabs may show the form); otherwise start one.
    let csrf = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(session::new_csrf_token);
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut res = pages::page(
        status,
        pages::login(&LoginPage {
            client_name,
            return_to,
            csrf: &csrf,
            error,
            username,
        }),
    );
    let _ = res.add_cookie(&session::login_csrf_cookie(&state.config, csrf));
    res
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
    return_to: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Only our own authorization endpoint is a valid place to return to after signing in.
fn safe_return_to(raw: Option<&str>) -> Option<&str> {
    let raw = raw?;
    let rest = raw.strip_prefix(AUTHORIZE_PATH)?;
    (rest.is_empty() || rest.starts_with('?')).then_some(raw)
}

/// The application's name for the sign-in page, from the `client_id` in `return_to`.
fn client_name_for(conn: &mut DbConn, return_to: &str) -> String {
    let client_id = return_to
        .split_once('?')
        .and_then(|(_, q)| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "client_id")
        })
        .map(|(_, v)| v.into_owned());
    client_id
        .and_then(|id| crate::store::clients::Client::find(conn, &id).ok())
        .map(|c| c.name)
        .unwrap_or_else(|| "the application".into())
}

enum LoginOutcome {
    SignedIn { session_id: String },
    Refused { client_name: String },
}

/// `POST /oauth/login`: checks the password (argon2), starts a session, returns to the
/// authorization request. A wrong username or password gets the same answer, in the same
/// time (a decoy hash is checked when the user does not exist).
pub async fn login_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Ok(body) = read_body(payload).await else {
        return bad_request_page("The form is too large.");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return bad_request_page("The form cannot be read.");
    };
    let Some(return_to) = safe_return_to(form.return_to.as_deref()).map(str::to_string) else {
        return bad_request_page("The sign-in form does not say where to return.");
    };
    let cookie_csrf = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    if !cookie_csrf.is_some_and(|c| session::csrf_matches(&c, form.csrf_token.as_deref())) {
        return pages::error(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This sign-in form is no longer valid. Go back to the application and start again.",
        );
    }
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let config = state.config.clone();
    let return_to_for_name = return_to.clone();
    let typed_username = username.clone();
    let outcome = state
        .db
        .run(move |conn| -> Result<LoginOutcome, StoreError> {
            let user = match validate::username(&username) {
                Ok(name) if password.len() <= 1024 => match User::find_by_username(conn, &name) {
                    Ok(u) => Some(u),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e),
                },
                _ => None,
            };
            let verified = match &user {
                Some(u) => passwords::verify(&password, &u.password_hash),
                None => {
                    passwords::verify(&password, passwords::decoy_hash());
                    false
                }
            };
            match user.filter(|_| verified) {
                Some(user) => {
                    let (session_id, hash) = session::new_session_id();
                    let expires_at =
                        crate::clock::now() + crate::duration::to_chrono(config.session_ttl);
                    let user_id = user.id;
                    write(conn, move |conn| {
                        Session::create(
                            conn,
                            &hash,
                            user_id,
                            &session::new_csrf_token(),
                            expires_at,
                        )
                    })?;
                    tracing::info!(user = %user.username, "signed in");
                    Ok(LoginOutcome::SignedIn { session_id })
                }
                None => Ok(LoginOutcome::Refused {
                    client_name: client_name_for(conn, &return_to_for_name),
                }),
            }
        })
        .await;
    match outcome {
        Ok(LoginOutcome::SignedIn { session_id }) => {
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, return_to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            let _ = res.add_cookie(&session::session_cookie(&state.config, session_id));
            res
        }
        Ok(LoginOutcome::Refused { client_name }) => login_page(
            &req,
            &state,
            &client_name,
            &return_to,
            Some("Invalid username or password."),
            &typed_username,
        ),
        Err(e) => {
            tracing::warn!(cause = %e, "sign-in failed on the store");
            pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The service cannot answer right now. Please try again in a moment.",
            )
        }
    }
}
