//! `GET|POST /oauth/authorize` (RFC 6749 §4.1.1–4.1.2), `POST /oauth/login` and
//! `POST /oauth/logout`: read the request, run the decision
//! ([`crate::oauth::authorize::decide`]), the sign-in ([`crate::oauth::login::sign_in`]) or the
//! sign-out ([`crate::oauth::login::sign_out`]) on the blocking pool, and answer with a
//! redirect or a page.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::limits::retry_after_secs;
use crate::oauth::authorize::{self, Answer, AuthorizeParams, Submission};
use crate::oauth::login::{self, SignIn, SignOut};
use crate::oauth::session;
use crate::web::body::read_form;
use crate::web::client_ip::client_ip;
use crate::web::cookies::{self, LOGIN_CSRF_COOKIE};
use crate::web::error::{bad_request_page, error_page, stop_page, unavailable_page};
use crate::web::pages::{self, LoginPage};
use crate::web::paths::AUTHORIZE_PATH;
use crate::web::state::AppState;

/// The authorization request, from the query string.
#[utoipa::path(
    get,
    path = "/oauth/authorize",
    operation_id = "authorize",
    tag = "oauth",
    params(crate::web::openapi::shapes::AuthorizeQuery),
    responses(
        crate::web::openapi::shapes::AuthorizeAnswers,
        crate::web::openapi::shapes::PageErrors
    )
)]
pub(crate) async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let pairs: Vec<(String, String)> = match serde_urlencoded::from_str(req.query_string()) {
        Ok(p) => p,
        Err(_) => return bad_request_page("The authorization request cannot be read."),
    };
    respond(&req, &state, pairs, None, StatusCode::FOUND).await
}

/// The consent form posts the original request back with the user's decision.
#[utoipa::path(
    post,
    path = "/oauth/authorize",
    operation_id = "authorize_decision",
    tag = "oauth",
    request_body(content = crate::web::openapi::shapes::ConsentForm, content_type = "application/x-www-form-urlencoded"),
    responses(crate::web::openapi::shapes::AuthorizeAnswers, crate::web::openapi::shapes::PageErrors),
)]
pub(crate) async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut pairs = match form_pairs(payload).await {
        Ok(pairs) => pairs,
        Err(answer) => return answer,
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
    let session = cookies::session_hash(req);
    let ctx = state.oauth.clone();
    let answer = state
        .db
        .run(move |conn| authorize::decide(conn, &ctx, &params, session, submission))
        .await;
    match answer {
        Ok(Answer::Redirect(url)) => HttpResponse::build(redirect_status)
            .insert_header((header::LOCATION, url.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .finish(),
        Ok(Answer::ErrorPage(stop)) => stop_page(stop),
        Ok(Answer::Login {
            client_name,
            return_query,
        }) => {
            let return_to = format!("{AUTHORIZE_PATH}?{return_query}");
            login_page(req, state, &client_name, &return_to, None, "")
        }
        Ok(Answer::Consent(c)) => pages::page(StatusCode::OK, pages::consent(&c)),
        Err(e) => unavailable_page(&e),
    }
}

fn login_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    client_name: &str,
    return_to: &str,
    error: Option<(StatusCode, &str)>,
    username: &str,
) -> HttpResponse {
    // Keep an existing token (several tabs may show the form); otherwise start one.
    let csrf = cookies::login_csrf(req).unwrap_or_else(session::new_csrf_token);
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
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
    let _ = res.add_cookie(&cookies::login_csrf_cookie(&state.config, csrf));
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

/// How late a throttled sign-in is answered (at most its `Retry-After`).
pub(crate) const THROTTLED_ANSWER_DELAY: Duration = Duration::from_millis(500);

/// A throttled sign-in's `Retry-After` in whole seconds, and what the page tells the person.
/// Shared with the console's sign-in and password confirmation.
pub(crate) fn throttled(retry_after: Duration, locked: bool) -> (u64, String) {
    let secs = retry_after_secs(retry_after);
    let wait = humantime::format_duration(Duration::from_secs(secs));
    let message = if locked {
        format!(
            "Too many failed sign-ins: this account is locked for {wait}. \
             An administrator can unlock it sooner."
        )
    } else {
        format!("Too many failed sign-ins. Wait {wait} before trying again.")
    };
    (secs, message)
}

/// Only our own authorization endpoint is a valid place to return to after signing in or out.
fn safe_return_to(raw: Option<&str>) -> Option<&str> {
    let raw = raw?;
    let rest = raw.strip_prefix(AUTHORIZE_PATH)?;
    (rest.is_empty() || rest.starts_with('?')).then_some(raw)
}

/// `POST /oauth/login`: signs in, then returns to the authorization request.
#[utoipa::path(
    post,
    path = "/oauth/login",
    operation_id = "login",
    tag = "oauth",
    request_body(content = crate::web::openapi::shapes::LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        crate::web::openapi::shapes::LoginAnswers,
        crate::web::openapi::shapes::PageErrors,
        crate::web::openapi::shapes::PageTooMany,
    ),
)]
pub(crate) async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Ok(body) = read_form(payload).await else {
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
        return error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This sign-in form is no longer valid. Go back to the application and start again.",
        );
    }
    let attempt = login::Attempt {
        username: form.username.unwrap_or_default(),
        password: form.password.unwrap_or_default(),
        authorization_query: return_to.split_once('?').map_or("", |(_, q)| q).to_string(),
        source: client_ip(&req, &state.config.trusted_proxies),
    };
    let typed_username = attempt.username.clone();
    let outcome = login::sign_in(&state.db, &state.config, &state.oauth.sign_in, attempt).await;
    match outcome {
        Ok(SignIn::SignedIn { session_id }) => {
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, return_to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            let _ = res.add_cookie(&cookies::session_cookie(&state.config, session_id));
            res
        }
        Ok(SignIn::Refused { client_name }) => login_page(
            &req,
            &state,
            &client_name,
            &return_to,
            Some((StatusCode::UNAUTHORIZED, "Invalid username or password.")),
            &typed_username,
        ),
        Ok(SignIn::Throttled {
            client_name,
            retry_after,
            locked,
            per_address,
        }) => {
            // An address over its budget is answered a moment late (no thread is held
            // meanwhile), so that a guesser's connections each send a couple of attempts a
            // second, not thousands.
            if per_address {
                actix_web::rt::time::sleep(retry_after.min(THROTTLED_ANSWER_DELAY)).await;
            }
            let (secs, message) = throttled(retry_after, locked);
            let mut res = login_page(
                &req,
                &state,
                &client_name,
                &return_to,
                Some((StatusCode::TOO_MANY_REQUESTS, &message)),
                &typed_username,
            );
            if let Ok(value) = header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, value);
            }
            res
        }
        Ok(SignIn::Busy { client_name }) => {
            let mut res = login_page(
                &req,
                &state,
                &client_name,
                &return_to,
                Some((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many sign-ins at once. Try again in a moment.",
                )),
                &typed_username,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        Err(e) => unavailable_page(&e),
    }
}

/// `POST /oauth/logout`, the consent page's "Not you?": ends the session if the form carries
/// the session's own anti-forgery token (403 otherwise, and the session goes on), clears the
/// session cookie, then returns to the authorization request the form carries — where the next
/// person signs in — or, without one, shows the "Signed out" page. A browser without a live
/// session has nothing to end and goes on the same way.
#[utoipa::path(
    post,
    path = "/oauth/logout",
    operation_id = "logout",
    tag = "oauth",
    request_body(content = crate::web::openapi::shapes::LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(crate::web::openapi::shapes::LogoutAnswers, crate::web::openapi::shapes::PageErrors),
)]
pub(crate) async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut pairs = match form_pairs(payload).await {
        Ok(pairs) => pairs,
        Err(answer) => return answer,
    };
    let csrf_token = pairs
        .iter()
        .position(|(k, _)| k == "csrf_token")
        .map(|i| pairs.remove(i).1);
    // The rest of the form is the authorization request to return to, if there is one; it is
    // read before the session ends, so that a malformed form ends nothing.
    let return_to = match AuthorizeParams::from_pairs(pairs) {
        Ok(params) => match params.return_query() {
            query if query.is_empty() => None,
            query => {
                let to = format!("{AUTHORIZE_PATH}?{query}");
                let Some(to) = safe_return_to(Some(&to)).map(str::to_string) else {
                    return bad_request_page("The sign-out form does not say where to return.");
                };
                Some(to)
            }
        },
        Err(message) => return bad_request_page(&message),
    };
    let session = cookies::session_hash(&req);
    let had_cookie = session.is_some();
    let outcome = state
        .db
        .run(move |conn| login::sign_out(conn, session, csrf_token.as_deref()))
        .await;
    let mut res = match outcome {
        Ok(SignOut::Forged) => {
            return error_page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This sign-out form is no longer valid, and you are still signed in. \
                 Go back to the application and start again.",
            );
        }
        Err(e) => return unavailable_page(&e),
        Ok(SignOut::SignedOut | SignOut::NoSession) => match return_to {
            Some(to) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::REFERRER_POLICY, "no-referrer"))
                .finish(),
            None => pages::page(StatusCode::OK, pages::signed_out()),
        },
    };
    // Only a browser that sent the session cookie has one to clear: a cross-site POST (which
    // SameSite=Lax keeps the cookie from) must not sign anyone out.
    if had_cookie {
        let _ = res.add_cookie(&cookies::cleared_session_cookie(&state.config));
    }
    res
}

/// The fields of the consent or sign-out form, in order (bounded), none of the form's own
/// fields given twice — the first would decide.
async fn form_pairs(payload: web::Payload) -> Result<Vec<(String, String)>, HttpResponse> {
    let Ok(body) = read_form(payload).await else {
        return Err(bad_request_page("The form is too large."));
    };
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return Err(bad_request_page("The form cannot be read."));
    };
    let twice = crate::oauth::authorize::FORM_FIELDS
        .into_iter()
        .find(|field| pairs.iter().filter(|(k, _)| k == field).count() > 1);
    match twice {
        Some(field) => Err(bad_request_page(&format!(
            "The form gives {field:?} more than once."
        ))),
        None => Ok(pairs),
    }
}
