//! `/console/account`: who is signed in, changing the password
//! (`oauth::login::change_password`: the current one confirmed through the sign-in gate, the
//! new one hashed on the bounded path, the user's other sessions ended), signing out, and
//! signing out everywhere (`Session::delete_for_user`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Section, done_message, layout, page, redirect, status_message};
use super::{NotConfirmed, SignedIn, forged, read_fields, signed_in, source};
use crate::oauth::login::{self, Confirmation, PasswordChange};
use crate::oauth::session;
use crate::store::sessions::Session;
use crate::web::cookies;
use crate::web::paths::{CONSOLE_ACCOUNT_PATH, CONSOLE_PATH, CONSOLE_SIGN_OUT_PATH};
use crate::web::state::AppState;

const PASSWORD_PATH: &str = "/console/account/password";
const SIGN_OUT_EVERYWHERE_PATH: &str = "/console/account/sign-out-everywhere";

#[derive(Deserialize)]
pub(crate) struct AccountQuery {
    org: Option<String>,
    done: Option<String>,
}

/// `GET /console/account`.
pub(crate) async fn show(
    req: HttpRequest,
    query: web::Query<AccountQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let user = match signed_in(&req, &state).await {
        Ok(Some(user)) => user,
        Ok(None) => return redirect(CONSOLE_PATH),
        Err(answer) => return answer,
    };
    let message = done_message(query.done.as_deref());
    account_page(&user, query.org.as_deref(), StatusCode::OK, message, None)
}

fn account_page(
    user: &SignedIn,
    org: Option<&str>,
    status: StatusCode,
    message: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = &user.session.csrf_token;
    page(
        status,
        layout(
            "Account",
            user.nav(org),
            Section::Account,
            html! {
                h1 { "Account" }
                (status_message(message))
                p { "Signed in as " strong { (user.session.username) } "." }
                section aria-labelledby="change-password" {
                    h2 #change-password { "Change password" }
                    @if let Some(error) = error { p.alert role="alert" { (error) } }
                    form method="post" action=(PASSWORD_PATH) {
                        input type="hidden" name="csrf_token" value=(csrf);
                        label for="current_password" { "Current password" }
                        input #current_password type="password" name="current_password" autocomplete="current-password" required;
                        label for="new_password" { "New password" }
                        input #new_password type="password" name="new_password" autocomplete="new-password" minlength="8" required aria-describedby="new-password-hint";
                        p.hint #new-password-hint { "At least 8 characters. Your other sessions end when it changes." }
                        button type="submit" { "Change password" }
                    }
                }
                section aria-labelledby="sessions" {
                    h2 #sessions { "Sessions" }
                    form.inline method="post" action=(CONSOLE_SIGN_OUT_PATH) {
                        input type="hidden" name="csrf_token" value=(csrf);
                        button type="submit" { "Sign out" }
                    }
                    form.inline method="post" action=(SIGN_OUT_EVERYWHERE_PATH) {
                        input type="hidden" name="csrf_token" value=(csrf);
                        button.secondary type="submit" aria-describedby="everywhere-hint" { "End every session" }
                    }
                    p.hint #everywhere-hint { "Ends your sessions in every browser, this one included." }
                }
            },
        ),
    )
}

/// The signed-in user of a form post, after the Fetch Metadata check and with the session's
/// anti-forgery token checked.
async fn form_user(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<(SignedIn, super::Fields), HttpResponse> {
    let fields = read_fields(req, state, payload).await?;
    let Some(user) = signed_in(req, state).await? else {
        return Err(redirect(CONSOLE_PATH));
    };
    if !session::csrf_matches(&user.session.csrf_token, fields.get("csrf_token")) {
        return Err(forged(user.nav(None)));
    }
    Ok((user, fields))
}

/// `POST /console/account/password`: `current_password`, `new_password`.
pub(crate) async fn change_password(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, fields) = match form_user(&req, &state, payload).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let confirmation = Confirmation {
        session_hash: user.hash,
        username: user.session.username.clone(),
        password: fields.text("current_password"),
        source: source(&req, &state),
    };
    let outcome = login::change_password(
        &state.db,
        &state.config,
        &state.oauth.sign_in,
        confirmation,
        fields.text("new_password"),
    )
    .await;
    match outcome {
        Ok(PasswordChange::Changed) => {
            redirect(&format!("{CONSOLE_ACCOUNT_PATH}?done=password-changed"))
        }
        Ok(PasswordChange::Invalid(message)) => account_page(
            &user,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(&format!("The new password {message}.")),
        ),
        Ok(PasswordChange::NotConfirmed(outcome)) => {
            let Some(refused) = NotConfirmed::from_confirm(outcome) else {
                return layout::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    user.nav(None),
                    "Something went wrong",
                    "The request could not be completed.",
                );
            };
            let message = match outcome {
                login::Confirm::Refused => "The current password is not right.".to_string(),
                _ => refused.message.clone(),
            };
            refused.finish(account_page(
                &user,
                None,
                refused.status,
                None,
                Some(&message),
            ))
        }
        Err(e) => layout::store_failure(&e),
    }
}

/// `POST /console/account/sign-out-everywhere`: ends every session of the user, this one too.
pub(crate) async fn sign_out_everywhere(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, _) = match form_user(&req, &state, payload).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let user_id = user.session.user_id;
    let ended = state
        .db
        .run(move |conn| {
            crate::store::write(conn, move |conn| Session::delete_for_user(conn, user_id))
        })
        .await;
    match ended {
        Ok(n) => {
            tracing::info!(user = %user.session.username, sessions = n, "signed out everywhere");
            let mut res = redirect(&format!("{CONSOLE_PATH}?done=signed-out-everywhere"));
            let _ = res.add_cookie(&cookies::cleared_session_cookie(&state.config));
            res
        }
        Err(e) => layout::store_failure(&e),
    }
}
