//! The console: server-rendered pages (maud) under `/console` where an organization's admins
//! manage integration tokens and read the audit log, and every signed-in user manages their
//! account. No JavaScript is needed; one script of our own (`assets/console.js`, the copy
//! button) and one stylesheet are served from the binary ([`assets`]).
//!
//! - [`sign_in`]: `GET /` (→ `/console`), `/console` (the sign-in page, or the user's
//!   organizations), signing in and out — the same sign-in sessions as the authorization pages
//!   (`oauth::login`, `web::cookies`, `store::sessions`);
//! - [`integrations`]: `/console/orgs/{org}/integrations…`, over the domain in
//!   `crate::integrations`, called as the management API calls it;
//! - [`clients`]: `/console/orgs/{org}/clients…`, over `crate::admin::clients`;
//! - [`members`]: `/console/orgs/{org}/members…`, over `crate::admin::members`;
//! - [`audit`]: `/console/orgs/{org}/audit`; [`account`]: `/console/account`;
//! - [`layout`]: the page around every page, its security headers, and the error pages.
//!
//! Every request is checked on the server, whatever the page showed: a live session
//! ([`signed_in`]); for an organization's pages, membership and role there ([`OrgVisit`]); for
//! every state-changing request ([`post_form`]) the Fetch Metadata check — `Sec-Fetch-Site`
//! must be `same-origin` or `none`, or, from a browser that sends none, `Origin` (if sent) must
//! be the issuer's (OWASP CSRF cheat sheet) — and the session's anti-forgery token in the form
//! (`csrf_token`). Creating or rotating a token asks for the password again when the session's
//! last password entry is older than `TESSERA_REAUTH_WINDOW` ([`reauth`]). A secret is shown
//! only in the answer to the POST that made it (`Cache-Control: no-store`), never in a URL or a
//! log; a status message after an action travels in the query string (`?done=…`) as a fixed
//! code, never as text.

pub(crate) mod account;
pub(crate) mod assets;
pub(crate) mod audit;
pub(crate) mod clients;
pub(crate) mod integrations;
pub(crate) mod layout;
pub(crate) mod members;
pub(crate) mod sign_in;

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use self::layout::{Nav, error_page, redirect};
use crate::admin::AdminError;
use crate::oauth::login::{self, Confirm, Confirmation};
use crate::oauth::session;
use crate::roles::Role;
use crate::store::orgs::Organization;
use crate::store::sessions::Session;
use crate::store::users::{Membership, User};
use crate::store::{DbConn, StoreError};
use crate::tokens::secret::SecretHash;
use crate::web::body::{BodyError, read_form};
use crate::web::client_ip::client_ip;
use crate::web::cookies;
use crate::web::paths::CONSOLE_PATH;
use crate::web::state::AppState;

/// A browser with a live sign-in session.
pub(crate) struct SignedIn {
    pub(crate) session: Session,
    /// The session cookie's hash, as the store keeps it.
    pub(crate) hash: SecretHash,
    /// The organizations the user belongs to, as `User::memberships` lists them.
    pub(crate) memberships: Vec<Membership>,
}

impl SignedIn {
    /// Whether the user typed their password within `TESSERA_REAUTH_WINDOW`.
    pub(crate) fn recently_authenticated(&self, state: &AppState) -> bool {
        let window = crate::duration::to_chrono(state.config.reauth_window);
        crate::clock::now() - self.session.authenticated_at < window
    }

    /// The navigation for pages outside an organization: the one named by `org` if the user
    /// belongs to it, else their first.
    pub(crate) fn nav<'a>(&'a self, org: Option<&str>) -> Option<Nav<'a>> {
        let m = self
            .memberships
            .iter()
            .find(|m| Some(m.org_slug.as_str()) == org)
            .or(self.memberships.first())?;
        Some(Nav {
            slug: &m.org_slug,
            name: &m.org_name,
            username: &self.session.username,
        })
    }
}

/// The signed-in user behind the request's session cookie, if any (`Ok(None)`: sign in).
pub(crate) async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<SignedIn>, HttpResponse> {
    let Some(hash) = cookies::session_hash(req) else {
        return Ok(None);
    };
    let digest = hash.0;
    let found = state
        .db
        .run(move |conn| {
            let Some(session) = Session::find_live(conn, &digest)? else {
                return Ok::<_, StoreError>(None);
            };
            let memberships = User::memberships(conn, session.user_id)?;
            Ok(Some((session, memberships)))
        })
        .await
        .map_err(|e| layout::store_failure(&e))?;
    Ok(found.map(|(session, memberships)| SignedIn {
        session,
        hash,
        memberships,
    }))
}

/// A signed-in member on one of their organization's pages.
pub(crate) struct OrgVisit {
    pub(crate) user: SignedIn,
    pub(crate) org: Organization,
    pub(crate) role: Role,
}

impl OrgVisit {
    pub(crate) fn nav(&self) -> Nav<'_> {
        Nav {
            slug: &self.org.slug,
            name: &self.org.name,
            username: &self.user.session.username,
        }
    }

    pub(crate) fn csrf(&self) -> &str {
        &self.user.session.csrf_token
    }

    /// The audit trail's actor for what this user does from `ip`.
    pub(crate) fn actor(&self, ip: Option<IpAddr>) -> crate::store::audit::Actor {
        crate::store::audit::Actor::user(
            self.user.session.user_id,
            &self.user.session.username,
            ip.map(|ip| ip.to_string()),
        )
    }

    /// The user as the creator (or rotator) of an integration: a person, capped by their role.
    pub(crate) fn creator(&self) -> crate::integrations::Creator {
        crate::integrations::Creator {
            user_id: Some(self.user.session.user_id),
            role: self.role,
            held: None,
        }
    }

    /// `Ok` when the user's role here is at least `needed`; otherwise the page (titled
    /// `title`, the section's name) that explains that `what` needs it: 200 for a page view (not
    /// a broken page), 403 for a change.
    pub(crate) fn require(
        &self,
        needed: Role,
        (title, what): (&str, &str),
        change: bool,
    ) -> Result<(), HttpResponse> {
        if self.role >= needed {
            return Ok(());
        }
        let status = if change {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        };
        Err(layout::role_needed(self, status, title, what, needed))
    }
}

/// The organization `slug` as the signed-in user sees it: 303 to the sign-in page without a
/// session, 404 when the user is not a member (an organization one does not belong to is not
/// told apart from one that does not exist).
pub(crate) async fn visit(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
) -> Result<OrgVisit, HttpResponse> {
    let Some(user) = signed_in(req, state).await? else {
        return Err(redirect(CONSOLE_PATH));
    };
    let Some(membership) = user.memberships.iter().find(|m| m.org_slug == slug) else {
        return Err(not_a_member(&user));
    };
    let (org_id, role) = (membership.org_id, membership.role);
    let org = state
        .db
        .run(move |conn| Organization::find(conn, org_id))
        .await
        .map_err(|e| layout::store_failure(&e))?;
    Ok(OrgVisit { user, org, role })
}

/// A page about one thing of the organization (an integration, a client): the session, the
/// role (`needed`, else the page [`OrgVisit::require`] gives), then the thing as `load` finds
/// it in this organization — its refusal (another organization's id: not found) as a page.
pub(crate) async fn visit_about<T: Send + 'static>(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    needed: (Role, (&str, &str)),
    load: impl FnOnce(&mut DbConn, &Organization) -> Result<T, AdminError> + Send + 'static,
) -> Result<(OrgVisit, T), HttpResponse> {
    let visit = visit(req, state, slug).await?;
    visit.require(needed.0, needed.1, false)?;
    let thing = load_for(state, &visit, load).await?;
    Ok((visit, thing))
}

/// A change to one thing of the organization: the checks of [`post_form`], the role, then the
/// thing as [`visit_about`] finds it.
pub(crate) async fn post_about<T: Send + 'static>(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    slug: &str,
    needed: (Role, (&str, &str)),
    load: impl FnOnce(&mut DbConn, &Organization) -> Result<T, AdminError> + Send + 'static,
) -> Result<(OrgVisit, Fields, T), HttpResponse> {
    let (visit, fields) = post_form(req, state, payload, slug).await?;
    visit.require(needed.0, needed.1, true)?;
    let thing = load_for(state, &visit, load).await?;
    Ok((visit, fields, thing))
}

async fn load_for<T: Send + 'static>(
    state: &AppState,
    visit: &OrgVisit,
    load: impl FnOnce(&mut DbConn, &Organization) -> Result<T, AdminError> + Send + 'static,
) -> Result<T, HttpResponse> {
    let org = visit.org.clone();
    state
        .db
        .run(move |conn| load(conn, &org))
        .await
        .map_err(|e| layout::refusal_page(visit.nav(), e))
}

fn not_a_member(user: &SignedIn) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        user.nav(None),
        "Organization not found",
        "There is no such organization among yours.",
    )
}

/// A submitted form's fields, in order (a field may repeat: the scopes' checkboxes).
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or empty.
    pub(crate) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl std::fmt::Debug for Fields {
    /// Names only: a form may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// The Fetch Metadata check of every state-changing console request (OWASP CSRF cheat sheet):
/// a browser that sends `Sec-Fetch-Site` must say `same-origin` (or `none`: typed by the user);
/// one that does not must send no `Origin` or the issuer's.
pub(crate) fn same_origin(req: &HttpRequest, state: &AppState) -> Result<(), HttpResponse> {
    let headers = req.headers();
    let ok = match headers.get("sec-fetch-site") {
        Some(site) => matches!(site.to_str(), Ok("same-origin" | "none")),
        None => match headers.get(header::ORIGIN) {
            None => true,
            Some(origin) => origin
                .to_str()
                .is_ok_and(|o| Some(o) == issuer_origin(&state.config.issuer).as_deref()),
        },
    };
    if ok {
        Ok(())
    } else {
        tracing::info!(path = req.path(), "console: a cross-site form was refused");
        Err(forged(None))
    }
}

/// The issuer's origin (RFC 6454): scheme, host and port, as browsers send it in `Origin`.
fn issuer_origin(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    Some(url.origin().ascii_serialization())
}

/// The 403 page of a form that did not come from the console in this session.
pub(crate) fn forged(nav: Option<Nav<'_>>) -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        nav,
        "Form expired",
        "This form did not come from this console in your current session, or it was already \
         submitted, so nothing was changed. Go back, reload the page and try again.",
    )
}

/// Spends the session's forms after one made a secret: its anti-forgery token is renewed, so
/// that sending the same form again (a reload of the one-time page, the browser's "confirm
/// form resubmission") is refused instead of making a second secret. Forms open elsewhere
/// must be reloaded.
pub(crate) async fn spend_forms(state: &AppState, user: &SignedIn) {
    let digest = user.hash.0;
    let fresh = crate::oauth::session::new_csrf_token();
    let renewed = state
        .db
        .run(move |conn| Session::renew_csrf(conn, &digest, &fresh))
        .await;
    if let Err(e) = renewed {
        // The secret is made and must be shown; a reload may then make another.
        tracing::warn!(error = %e, "could not renew the session's anti-forgery token");
    }
}

/// Reads a form (bounded) after the Fetch Metadata check.
pub(crate) async fn read_fields(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<Fields, HttpResponse> {
    same_origin(req, state)?;
    match read_form(payload).await {
        Ok(body) => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map(Fields)
            .map_err(|_| bad_form("The form cannot be read.")),
        Err(BodyError::TooLarge) => Err(bad_form("The form is too large.")),
        Err(BodyError::Unreadable | BodyError::TimedOut) => {
            Err(bad_form("The form did not arrive whole."))
        }
    }
}

fn bad_form(message: &str) -> HttpResponse {
    error_page(StatusCode::BAD_REQUEST, None, "Invalid request", message)
}

/// A state-changing request on an organization's page: the Fetch Metadata check, the form,
/// the session, membership, and the session's anti-forgery token — in that order, each
/// refusal before anything is changed.
pub(crate) async fn post_form(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    slug: &str,
) -> Result<(OrgVisit, Fields), HttpResponse> {
    let fields = read_fields(req, state, payload).await?;
    let visit = visit(req, state, slug).await?;
    if !session::csrf_matches(visit.csrf(), fields.get("csrf_token")) {
        return Err(forged(Some(visit.nav())));
    }
    Ok((visit, fields))
}

/// Why a password confirmation did not pass, as the form shows it again.
pub(crate) struct NotConfirmed {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// `Retry-After` in seconds, for a throttled or busy answer.
    pub(crate) retry_after: Option<u64>,
}

impl NotConfirmed {
    /// Adds `Retry-After` to the form's answer when there is one.
    pub(crate) fn finish(&self, mut res: HttpResponse) -> HttpResponse {
        if let Some(secs) = self.retry_after {
            if let Ok(value) = header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        res
    }

    pub(crate) fn from_confirm(outcome: Confirm) -> Option<NotConfirmed> {
        match outcome {
            Confirm::Confirmed => None,
            Confirm::Refused => Some(NotConfirmed {
                status: StatusCode::UNAUTHORIZED,
                message: "That password is not right.".into(),
                retry_after: None,
            }),
            Confirm::Throttled {
                retry_after,
                locked,
            } => {
                let (secs, message) = crate::web::oauth::authorize::throttled(retry_after, locked);
                Some(NotConfirmed {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    message,
                    retry_after: Some(secs),
                })
            }
            Confirm::Busy => Some(NotConfirmed {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "Too many sign-ins at once. Try again in a moment.".into(),
                retry_after: Some(1),
            }),
        }
    }
}

/// Re-authentication before a secret is shown: when the session's last password entry is
/// older than `TESSERA_REAUTH_WINDOW`, the form's `password` must be the user's, checked
/// through the sign-in gate (`oauth::login::reauthenticate`; a wrong one counts against the
/// account). `Ok` when it is recent or confirmed now.
pub(crate) async fn reauth(
    req: &HttpRequest,
    state: &AppState,
    user: &SignedIn,
    fields: &Fields,
) -> Result<(), NotConfirmed> {
    if user.recently_authenticated(state) {
        return Ok(());
    }
    let password = fields.text("password");
    if password.is_empty() {
        return Err(NotConfirmed {
            status: StatusCode::UNAUTHORIZED,
            message: "Confirm your password to continue.".into(),
            retry_after: None,
        });
    }
    let confirmation = Confirmation {
        session_hash: user.hash,
        username: user.session.username.clone(),
        password,
        source: client_ip(req, &state.config.trusted_proxies),
    };
    let outcome =
        login::reauthenticate(&state.db, &state.config, &state.oauth.sign_in, confirmation).await;
    match outcome {
        Ok(outcome) => NotConfirmed::from_confirm(outcome).map_or(Ok(()), Err),
        Err(e) => {
            tracing::warn!(cause = %e, "console: a password confirmation failed on the store");
            Err(NotConfirmed {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "The service cannot answer right now. Please try again in a moment."
                    .into(),
                retry_after: Some(1),
            })
        }
    }
}

/// The caller's address, for the audit trail.
pub(crate) fn source(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    client_ip(req, &state.config.trusted_proxies)
}

/// `GET /console/orgs/{org}`: the organization's first page.
pub(crate) async fn org_home(path: web::Path<String>) -> HttpResponse {
    // Only a slug goes into the Location header (anything else is no organization).
    match crate::validate::slug(&path) {
        Ok(slug) => redirect(&format!("{}/integrations", layout::org_path(&slug))),
        Err(_) => not_found().await,
    }
}

/// Any other `GET` under `/console/`: a page that says so (not the API's JSON).
pub(crate) async fn not_found() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        None,
        "Page not found",
        "There is no such page in the console.",
    )
}
