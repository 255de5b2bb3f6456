//! `GET /` (→ `/console`), `GET /console` (the sign-in page, or the user's organizations),
//! `POST /console/sign-in` and `POST /console/sign-out`. Signing in is
//! `oauth::login::sign_in`, with its throttling and lockout answered as `/oauth/login`
//! answers them (429 with `Retry-After`); the session it starts is the one the authorization
//! pages use, and signing out here ends it for both.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::layout::{
    self, Done, Section, done_message, error_page, layout, org_path, page, redirect, status_message,
};
use super::{SignedIn, read_fields, signed_in, source};
use crate::oauth::login::{self, SignIn, SignOut};
use crate::oauth::session;
use crate::web::cookies::{self, LOGIN_CSRF_COOKIE};
use crate::web::oauth::authorize::{THROTTLED_ANSWER_DELAY, throttled};
use crate::web::paths::{CONSOLE_PATH, CONSOLE_SIGN_IN_PATH};
use crate::web::state::AppState;

/// `GET /`: the console is the front page.
pub(crate) async fn root() -> HttpResponse {
    redirect(CONSOLE_PATH)
}

/// `GET /console`: the sign-in page without a session; with one, the user's organization
/// (303 to its integrations) or, when they belong to several, the list of them.
pub(crate) async fn home(
    req: HttpRequest,
    query: web::Query<Done>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let message = done_message(query.done.as_deref());
    let user = match signed_in(&req, &state).await {
        Ok(Some(user)) => user,
        Ok(None) => return sign_in_page(&req, &state, None, "", message),
        Err(answer) => return answer,
    };
    if let [only] = user.memberships.as_slice() {
        return redirect(&format!("{}/integrations", org_path(&only.org_slug)));
    }
    organizations(&user, message)
}

fn organizations(user: &SignedIn, message: Option<&str>) -> HttpResponse {
    page(
        StatusCode::OK,
        layout(
            "Your organizations",
            user.nav(None),
            Section::None,
            html! {
                h1 { "Your organizations" }
                (status_message(message))
                @if user.memberships.is_empty() {
                    p { "You do not belong to any organization yet. Ask an owner or admin of one to add you." }
                } @else {
                    ul.plain {
                        @for m in &user.memberships {
                            li {
                                a href=(format!("{}/integrations", org_path(&m.org_slug))) { (m.org_name) }
                                span.muted { " — your role: " (m.role) }
                            }
                        }
                    }
                }
            },
        ),
    )
}

/// The sign-in page; `error`: the alert and its status. The form carries a double-submit
/// anti-forgery token (the cookie `tessera_login_csrf`), as the authorization pages' does.
fn sign_in_page(
    req: &HttpRequest,
    state: &AppState,
    error: Option<(StatusCode, &str)>,
    username: &str,
    message: Option<&str>,
) -> HttpResponse {
    // Keep an existing token (several tabs may show the form); otherwise start one.
    let csrf = cookies::login_csrf(req).unwrap_or_else(session::new_csrf_token);
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let mut res = page(
        status,
        layout(
            "Sign in",
            None,
            Section::None,
            html! {
                h1 { "Sign in to Tessera" }
                (status_message(message))
                @if let Some(error) = error { p.alert role="alert" { (error) } }
                form method="post" action=(CONSOLE_SIGN_IN_PATH) {
                    input type="hidden" name="csrf_token" value=(csrf);
                    label for="username" { "Username" }
                    input #username type="text" name="username" value=(username) autocomplete="username" required autofocus;
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                }
            },
        ),
    );
    let _ = res.add_cookie(&cookies::login_csrf_cookie(&state.config, csrf));
    res
}

/// `POST /console/sign-in`: signs in, then 303 to `/console`.
pub(crate) async fn sign_in(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = match read_fields(&req, &state, payload).await {
        Ok(fields) => fields,
        Err(answer) => return answer,
    };
    let cookie_csrf = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    if !cookie_csrf.is_some_and(|c| session::csrf_matches(&c, fields.get("csrf_token"))) {
        return error_page(
            StatusCode::FORBIDDEN,
            None,
            "Form expired",
            "This sign-in form is no longer valid. Reload the page and sign in again.",
        );
    }
    let attempt = login::Attempt {
        username: fields.text("username"),
        password: fields.text("password"),
        authorization_query: String::new(),
        source: source(&req, &state),
    };
    let typed = attempt.username.clone();
    let outcome = login::sign_in(&state.db, &state.config, &state.oauth.sign_in, attempt).await;
    match outcome {
        Ok(SignIn::SignedIn { session_id }) => {
            let mut res = redirect(CONSOLE_PATH);
            let _ = res.add_cookie(&cookies::session_cookie(&state.config, session_id));
            res
        }
        Ok(SignIn::Refused { .. }) => sign_in_page(
            &req,
            &state,
            Some((StatusCode::UNAUTHORIZED, "Invalid username or password.")),
            &typed,
            None,
        ),
        Ok(SignIn::Throttled {
            retry_after,
            locked,
            per_address,
            ..
        }) => {
            // As at `/oauth/login`: an address over its budget is answered a moment late.
            if per_address {
                actix_web::rt::time::sleep(retry_after.min(THROTTLED_ANSWER_DELAY)).await;
            }
            let (secs, message) = throttled(retry_after, locked);
            let mut res = sign_in_page(
                &req,
                &state,
                Some((StatusCode::TOO_MANY_REQUESTS, &message)),
                &typed,
                None,
            );
            if let Ok(value) = header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, value);
            }
            res
        }
        Ok(SignIn::Busy { .. }) => {
            let mut res = sign_in_page(
                &req,
                &state,
                Some((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many sign-ins at once. Try again in a moment.",
                )),
                &typed,
                None,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        Err(e) => layout::store_failure(&e),
    }
}

/// `POST /console/sign-out`: ends the session (`oauth::login::sign_out`: only with the
/// session's own anti-forgery token; 403 otherwise, and the session goes on), clears the
/// cookie, then 303 to the sign-in page.
pub(crate) async fn sign_out(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = match read_fields(&req, &state, payload).await {
        Ok(fields) => fields,
        Err(answer) => return answer,
    };
    let session = cookies::session_hash(&req);
    let had_cookie = session.is_some();
    let csrf_token = fields.get("csrf_token").map(str::to_string);
    let outcome = state
        .db
        .run(move |conn| login::sign_out(conn, session, csrf_token.as_deref()))
        .await;
    let mut res = match outcome {
        Ok(SignOut::Forged) => return super::forged(None),
        Err(e) => return layout::store_failure(&e),
        Ok(SignOut::SignedOut | SignOut::NoSession) => {
            redirect(&format!("{CONSOLE_PATH}?done=signed-out"))
        }
    };
    if had_cookie {
        let _ = res.add_cookie(&cookies::cleared_session_cookie(&state.config));
    }
    res
}
