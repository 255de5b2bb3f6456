//! The page around every console page — `lang`, a banner, the console's navigation
//! (`<nav aria-label="Console">`), one `<main>` holding the page's one `h1` — its security
//! headers, the redirects after actions, and the error pages.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use maud::{DOCTYPE, Markup, html};

use super::OrgVisit;
use super::assets;
use super::assets::CSP;
use crate::admin::AdminError;
use crate::roles::Role;
use crate::store::StoreError;
use crate::web::pages::secure;
use crate::web::paths::{CONSOLE_ACCOUNT_PATH, CONSOLE_PATH};

/// The organization a page belongs to, and who is signed in: what the navigation shows.
#[derive(Clone, Copy)]
pub(crate) struct Nav<'a> {
    pub(crate) slug: &'a str,
    pub(crate) name: &'a str,
    pub(crate) username: &'a str,
}

/// The sections of an organization's pages, as the navigation names them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Integrations,
    Clients,
    Members,
    Audit,
    Account,
    None,
}

/// The base path of an organization's pages.
pub(crate) fn org_path(slug: &str) -> String {
    format!("{CONSOLE_PATH}/orgs/{slug}")
}

/// A whole console page: `title` for the tab, `nav` when someone is signed in, `body` inside
/// `<main>` (which must hold the page's one `h1`).
pub(crate) fn layout(title: &str, nav: Option<Nav<'_>>, section: Section, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tessera console" }
                link rel="icon" href=(assets::icon_url()) type="image/svg+xml";
                link rel="stylesheet" href=(assets::style_url());
                script src=(assets::script_url()) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.banner {
                    span.brand { "Tessera console" }
                    @if let Some(nav) = nav {
                        span.org { "Organization: " strong { (nav.name) } }
                        // Signing out is on the account page (one "Sign out" button per page).
                        span.who { "Signed in as " strong { (nav.username) } }
                    }
                }
                @if let Some(nav) = nav {
                    (navigation(nav, section))
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

fn navigation(nav: Nav<'_>, section: Section) -> Markup {
    let base = org_path(nav.slug);
    let links = [
        (
            Section::Integrations,
            format!("{base}/integrations"),
            "Integrations",
        ),
        (Section::Clients, format!("{base}/clients"), "OAuth clients"),
        (Section::Members, format!("{base}/members"), "Members"),
        (Section::Audit, format!("{base}/audit"), "Audit log"),
        (
            Section::Account,
            format!("{CONSOLE_ACCOUNT_PATH}?org={}", nav.slug),
            "Account",
        ),
    ];
    html! {
        nav aria-label="Console" {
            ul {
                @for (s, href, text) in links {
                    li {
                        @if s == section {
                            a href=(href) aria-current="page" { (text) }
                        } @else {
                            a href=(href) { (text) }
                        }
                    }
                }
            }
        }
    }
}

/// A console page with its security headers.
pub(crate) fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    secure(&mut HttpResponse::build(status), CSP)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// 303 See Other to `location` (a path of the console), with the security headers.
pub(crate) fn redirect(location: &str) -> HttpResponse {
    secure(&mut HttpResponse::SeeOther(), CSP)
        .insert_header((header::LOCATION, location))
        .finish()
}

/// An error page: `title` as its `h1`, `message` in an alert.
pub(crate) fn error_page(
    status: StatusCode,
    nav: Option<Nav<'_>>,
    title: &str,
    message: &str,
) -> HttpResponse {
    let mut res = page(
        status,
        layout(
            title,
            nav,
            Section::None,
            html! {
                h1 { (title) }
                p.alert role="alert" { (message) }
                p { a href=(CONSOLE_PATH) { "Back to the console" } }
            },
        ),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    res
}

/// The page when the store cannot answer (503, fail closed) or failed unexpectedly (500).
pub(crate) fn store_failure(cause: &StoreError) -> HttpResponse {
    if let StoreError::NotFound = cause {
        return error_page(
            StatusCode::NOT_FOUND,
            None,
            "Not found",
            "There is nothing here.",
        );
    }
    if let StoreError::Unavailable(_) = cause {
        tracing::warn!(%cause, "a console page failed on the store");
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "Temporarily unavailable",
            "The service cannot answer right now. Please try again in a moment.",
        );
    }
    tracing::error!(%cause, "a console page failed on the store");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "Something went wrong",
        "The request could not be completed.",
    )
}

/// The page for a domain refusal that is not about a form's input (those show the form again):
/// 404, 409, 403 for a plan that lacks the feature, or the store's failure.
pub(crate) fn refusal_page(nav: Nav<'_>, e: AdminError) -> HttpResponse {
    match e {
        AdminError::Invalid(invalid) => error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(nav),
            "Cannot do that",
            &invalid.to_string(),
        ),
        AdminError::NotFound(what) => error_page(
            StatusCode::NOT_FOUND,
            Some(nav),
            "Not found",
            &format!("{what} was not found."),
        ),
        AdminError::Conflict(message) => error_page(
            StatusCode::CONFLICT,
            Some(nav),
            "Cannot do that now",
            &format!("{message}."),
        ),
        AdminError::Forbidden(message) => error_page(
            StatusCode::FORBIDDEN,
            Some(nav),
            "Not allowed",
            &format!("{message}."),
        ),
        refused @ AdminError::PlanUpgradeRequired { .. } => error_page(
            StatusCode::FORBIDDEN,
            Some(nav),
            "Upgrade required",
            &format!("{refused}."),
        ),
        AdminError::Store(e) => store_failure(&e),
        AdminError::Internal(cause) => {
            tracing::error!(%cause, "a console action failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(nav),
                "Something went wrong",
                "The request could not be completed.",
            )
        }
    }
}

/// The explanation a user whose role is too low sees instead of a page or an action.
pub(crate) fn role_needed(
    visit: &OrgVisit,
    status: StatusCode,
    title: &str,
    what: &str,
    needed: Role,
) -> HttpResponse {
    let roles = match needed {
        Role::Owner => "owner",
        Role::Admin => "admin or owner",
        Role::Manager => "manager, admin or owner",
        Role::Member => "member",
    };
    page(
        status,
        layout(
            title,
            Some(visit.nav()),
            Section::None,
            html! {
                h1 { (title) }
                p role=(if status == StatusCode::OK { "status" } else { "alert" }) {
                    (what) " needs the " strong { (roles) } " role in " (visit.org.name)
                    ". Your role here is " strong { (visit.role) } "."
                }
                p { "Ask an owner or admin of " (visit.org.name) " to do it for you, or to change your role." }
            },
        ),
    )
}

/// The `?done=` of the page an action redirects to: which fixed status message to show.
#[derive(serde::Deserialize)]
pub(crate) struct Done {
    pub(crate) done: Option<String>,
}

/// The status message after an action (`?done=…`): a fixed text per known code, nothing for
/// any other value (the query string never carries text to show).
pub(crate) fn done_message(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "The integration was created.",
        "rotated" => "The token was rotated.",
        "expired" => "The integration's expiry was set.",
        "expiry-kept" => {
            "The integration already expires earlier; its expiry was kept (expiring never extends a life)."
        }
        "revoked" => "The integration was revoked.",
        "saved" => "Your changes were saved.",
        "password-changed" => "Your password was changed. Your other sessions have ended.",
        "signed-out" => "You are signed out.",
        "signed-out-everywhere" => "You are signed out everywhere.",
        _ => return None,
    })
}

/// The status message as the page shows it (a live region, announced by screen readers).
pub(crate) fn status_message(message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.notice role="status" { (message) }
        }
    }
}

/// A time as the console shows it, in UTC to the minute.
pub(crate) fn when(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
