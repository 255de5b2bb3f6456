//! The HTML of the authorization pages: sign-in, consent, signed out, and errors that must not
//! redirect.
//! maud escapes every interpolated value. Pages are never cached, never framed (clickjacking
//! on a consent button), and run no script.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use maud::{DOCTYPE, Markup, html};

use crate::oauth::authorize::{ConsentData, OrgChoice};
use crate::web::paths::{AUTHORIZE_PATH, LOGIN_PATH, LOGOUT_PATH};

/// The authorization pages' Content-Security-Policy: no script at all, their one inline style.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// An authorization page with its security headers ([`secure`]).
pub(crate) fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    secure(&mut HttpResponse::build(status), CSP)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// The headers every page carries, the authorization pages' and the console's (which passes
/// its own `csp`): never cached (a page may show a secret or a form's anti-forgery token),
/// never framed (clickjacking), no referrer (a URL may name an organization or a client), no
/// content sniffing.
pub(crate) fn secure<'b>(
    res: &'b mut actix_web::HttpResponseBuilder,
    csp: &'static str,
) -> &'b mut actix_web::HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:26rem;margin:4rem auto;background:#fff;border-radius:10px;padding:2rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input[type=text],input[type=password],select{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #c5cad3;border-radius:6px;font-size:1rem}
button{padding:.6rem 1.2rem;border-radius:6px;border:1px solid #2456d3;background:#2456d3;color:#fff;font-size:1rem;cursor:pointer;margin-top:1.2rem}
button.secondary{background:#fff;color:#2456d3}
.error{background:#fdecea;color:#8a1c13;padding:.6rem;border-radius:6px}
ul.scopes{padding-left:1.2rem} ul.scopes li{margin:.4rem 0}
.muted{color:#5b6475;font-size:.9rem}
h2{font-size:1.05rem;margin:0 0 .4rem}
section.org{border:1px solid #c5cad3;border-radius:8px;padding:1rem;margin:1rem 0}
section.org button{margin-top:.4rem}
p.account{background:#f0f1f4;border-radius:6px;padding:.6rem}
button.link{background:none;border:none;padding:0;margin:0;color:#2456d3;text-decoration:underline;font-size:inherit}
code{background:#f0f1f4;padding:0 .25rem;border-radius:3px}
";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tessera" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
}

pub(crate) struct LoginPage<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) return_to: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) error: Option<&'a str>,
    pub(crate) username: &'a str,
}

pub(crate) fn login(p: &LoginPage) -> Markup {
    layout(
        "Sign in",
        html! {
            h1 { "Sign in" }
            p.muted { "to continue to " strong { (p.client_name) } }
            @if let Some(error) = p.error { p.error role="alert" { (error) } }
            form method="post" action=(LOGIN_PATH) {
                input type="hidden" name="csrf_token" value=(p.csrf);
                input type="hidden" name="return_to" value=(p.return_to);
                label for="username" { "Username" }
                input #username type="text" name="username" value=(p.username) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The consent page. It names the signed-in account and offers to sign out ("Not you?"), so
/// that on a shared browser the next person does not approve as the previous one.
///
/// With one organization, one form: its scopes, Approve and Deny. With several, one section
/// per organization, each its own form with its `org`, its scopes and its own Approve button,
/// so that what is approved is exactly the list shown next to that button; one Deny form
/// after them. No script: every choice is a submit button. Every form posts the request back
/// with the session's `csrf_token`; the first form on the page is always an approval.
pub(crate) fn consent(p: &ConsentData) -> Markup {
    layout(
        "Authorize",
        html! {
            h1 { "Authorize " (p.client_name) }
            p.muted { (p.client_name) " (registered by " (p.client_org) ") wants to access your account." }
            p.account {
                "Signed in as " strong { (p.username) } ". "
                // Submits the sign-out form at the end of the page (an approval form comes
                // first).
                button.link type="submit" form=(SIGN_OUT_FORM_ID) { "Not you? Sign in as someone else" }
            }
            @if let [only] = p.orgs.as_slice() {
                form method="post" action=(AUTHORIZE_PATH) {
                    (request_fields(p))
                    input type="hidden" name="org" value=(only.slug);
                    p.muted { "Organization: " strong { (only.name) } }
                    (what_it_gets(only))
                    button type="submit" name="decision" value="approve" { "Approve" }
                    " "
                    button.secondary type="submit" name="decision" value="deny" { "Deny" }
                }
            } @else {
                p { "You belong to several organizations. Choose the one to authorize "
                    (p.client_name) " in: it gets only what is listed under that organization." }
                @for (i, o) in p.orgs.iter().enumerate() {
                    @let heading = format!("org-{i}");
                    section.org aria-labelledby=(heading) {
                        h2 id=(heading) { (o.name) }
                        form method="post" action=(AUTHORIZE_PATH) {
                            (request_fields(p))
                            input type="hidden" name="org" value=(o.slug);
                            (what_it_gets(o))
                            button type="submit" name="decision" value="approve" { "Approve for " (o.name) }
                        }
                    }
                }
                form method="post" action=(AUTHORIZE_PATH) {
                    (request_fields(p))
                    p.muted { "Or refuse " (p.client_name) " access in every organization:" }
                    button.secondary type="submit" name="decision" value="deny" { "Deny" }
                }
            }
            form id=(SIGN_OUT_FORM_ID) method="post" action=(LOGOUT_PATH) {
                (request_fields(p))
            }
        },
    )
}

const SIGN_OUT_FORM_ID: &str = "sign-out";

/// The authorization request and the session's anti-forgery token, as hidden fields.
fn request_fields(p: &ConsentData) -> Markup {
    html! {
        @for (k, v) in &p.params { input type="hidden" name=(k) value=(v); }
        input type="hidden" name="csrf_token" value=(p.csrf);
    }
}

/// What the app would get in one organization, and what the user's role there withholds.
fn what_it_gets(o: &OrgChoice) -> Markup {
    html! {
        p { "It will be able to:" }
        ul.scopes {
            @for s in &o.grantable {
                li { code { (s.name) } @if !s.description.is_empty() { " — " (s.description) } }
            }
        }
        @if !o.withheld.is_empty() {
            p.muted { "Not granted (your role does not allow it): "
                @for (i, s) in o.withheld.iter().enumerate() { @if i > 0 { ", " } code { (s) } } }
        }
    }
}

/// After signing out with no authorization request to return to.
pub(crate) fn signed_out() -> Markup {
    layout(
        "Signed out",
        html! {
            h1 { "Signed out" }
            p { "You are signed out. Anyone using this browser must sign in again." }
            p.muted { "Return to the application to continue." }
        },
    )
}

/// The page of an error answer; `web::error` decides when and adds its headers.
pub(crate) fn error(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        layout(
            title,
            html! {
                h1 { (title) }
                p.error { (message) }
                p.muted { "Return to the application and try again." }
            },
        ),
    )
}
