//! `/console/orgs/{org}/integrations…`: the list, create (ending on the one-time page), one
//! integration's details, rotate, expire, revoke and edit — each action a page that names the
//! integration (GET) and the change (POST), then 303 back with a status message.
//!
//! Every handler checks, on the server: the session and membership ([`super::visit`]), the
//! role (`admin` or `owner`, as the management API asks), and for a change the Fetch Metadata
//! check and the form's anti-forgery token ([`super::post_form`]). The domain is called as
//! `web::v1::integrations` calls it — the same [`Creator`], an actor naming the user and their
//! address — and changes go through [`AppState::run_change`]. A token's text appears
//! only in the answer to the POST that made it (create, rotate): `no-store`, never in a URL,
//! never kept; listings show `prefix…last4`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use maud::{Markup, html};

use super::layout::{
    Done, Nav, Section, done_message, layout, org_path, page, redirect, refusal_page,
    status_message, when,
};
use super::{
    Fields, NotConfirmed, OrgVisit, post_about, post_form, reauth, source, spend_forms, visit,
    visit_about,
};
use crate::admin::AdminError;
use crate::admin::plans::{Feature, Plan};
use crate::integrations::{self, CreateIntegration, IntegrationView, Status, UpdateIntegration};
use crate::roles::Role;
use crate::store::DbConn;
use crate::store::scopes::ScopeDef;
use crate::web::state::AppState;

/// The section's name, and what the role check names.
const MANAGING: (&str, &str) = ("Integrations", "Managing integration tokens");
/// Who may manage integrations, as the management API asks (`integrations:manage`).
const NEEDED: Role = Role::Admin;
/// The rotate page's choices: (value, text).
pub(crate) const GRACE_CHOICES: [(&str, &str); 5] = [
    ("0s", "Stop now"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("3d", "3 days"),
    ("7d", "7 days"),
];

fn base(slug: &str) -> String {
    format!("{}/integrations", org_path(slug))
}

fn one(slug: &str, id: &str) -> String {
    format!("{}/{id}", base(slug))
}

/// The plan's refusal: the organization's plan, and the cheapest that includes integrations.
struct Upgrade {
    plan: Plan,
    required: Plan,
}

/// Whether the organization may create integrations now (`admin::plans::entitled`).
fn upgrade_needed(
    conn: &mut DbConn,
    org: &crate::store::orgs::Organization,
) -> Result<Option<Upgrade>, AdminError> {
    match crate::admin::plans::entitled(conn, org, Feature::Integrations) {
        Ok(()) => Ok(None),
        Err(AdminError::PlanUpgradeRequired { plan, required, .. }) => {
            Ok(Some(Upgrade { plan, required }))
        }
        Err(e) => Err(e),
    }
}

/// The status as the list shows it: "Active", "Expiring <date>", "Expired", "Revoked" or
/// "Inactive" (unused for longer than its limit).
fn status_text(v: &IntegrationView, now: NaiveDateTime) -> String {
    match v.status {
        Status::Revoked => "Revoked".into(),
        Status::Expired => {
            let current_ends = v.tokens.first().and_then(|t| t.expires_at);
            let ended_by_time = current_ends.is_some_and(|e| e <= now);
            if v.inactive_after.is_some() && !ended_by_time {
                "Inactive".into()
            } else {
                "Expired".into()
            }
        }
        Status::Active => match v.expires_at {
            Some(at) => format!("Expiring {}", when(at)),
            None => "Active".into(),
        },
    }
}

fn key(prefix: &str, last4: &str) -> Markup {
    html! { span.key { (prefix) "…" (last4) } }
}

/// `GET /console/orgs/{org}/integrations`.
pub(crate) async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Done>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let visit = match visit(&req, &state, &path).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(NEEDED, MANAGING, false) {
        return answer;
    }
    let org = visit.org.clone();
    let loaded = state
        .db
        .run(move |conn| {
            let views = integrations::list(conn, &org)?;
            let upgrade = upgrade_needed(conn, &org)?;
            Ok::<_, AdminError>((views, upgrade))
        })
        .await;
    let (views, upgrade) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let now = crate::clock::now();
    let slug = &visit.org.slug;
    let message = done_message(query.done.as_deref());
    page(
        StatusCode::OK,
        layout(
            "Integrations",
            Some(visit.nav()),
            Section::Integrations,
            html! {
                h1 { "Integrations" }
                (status_message(message))
                p { "Integration tokens let your own servers and scripts call the API. Each token is shown once, when it is made." }
                @match &upgrade {
                    None => p { a.button href=(format!("{}/new", base(slug))) { "Create integration" } },
                    Some(u) => (upgrade_box(&visit, u)),
                }
                table {
                    caption { "Integration tokens" }
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Environment" }
                            th scope="col" { "Scopes" }
                            th scope="col" { "Key" }
                            th scope="col" { "Created" }
                            th scope="col" { "Last used" }
                            th scope="col" { "Uses" }
                            th scope="col" { "Status" }
                            th scope="col" { "Expires" }
                        }
                    }
                    tbody {
                        @for v in &views {
                            tr {
                                td {
                                    a href=(one(slug, &v.id)) { (v.name) }
                                    @if !v.description.is_empty() { br; span.muted { (v.description) } }
                                }
                                td { (v.env) }
                                td { @for (i, s) in v.scopes.iter().enumerate() { @if i > 0 { " " } code { (s) } } }
                                td { (key(&v.prefix, &v.last4)) }
                                td { (created(v)) }
                                td { (last_used(v.last_used_at, v.last_used_ip.as_deref())) }
                                td { (v.use_count) }
                                td { (status_text(v, now)) }
                                td { (v.expires_at.map_or_else(|| "Never".to_string(), when)) }
                            }
                        }
                    }
                }
                @if views.is_empty() { p.muted { "No integrations yet." } }
            },
        ),
    )
}

/// Who created it (and whether they have left the organization since), and when.
fn created(v: &IntegrationView) -> Markup {
    html! {
        @if let Some(by) = &v.created_by {
            (by)
            @if v.created_by_former_member { " (former member)" }
            br;
        }
        (when(v.created_at))
    }
}

fn last_used(at: Option<NaiveDateTime>, ip: Option<&str>) -> Markup {
    html! {
        @match at {
            Some(at) => { (when(at)) @if let Some(ip) = ip { br; "from " (ip) } }
            None => "Never",
        }
    }
}

/// What integrations do, and the plan that unlocks them, instead of the create control.
fn upgrade_box(visit: &OrgVisit, u: &Upgrade) -> Markup {
    html! {
        section.upgrade aria-labelledby="upgrade" {
            h2 #upgrade { "Upgrade to the " (u.required) " plan" }
            p { (Feature::Integrations.describe()) }
            p {
                (visit.org.name) " is on the " strong { (u.plan) } " plan, which does not include creating integrations. "
                "Upgrade to the " (u.required) " plan to create integrations and issue tokens. "
                "Existing integrations keep working until they expire, and can still be expired or revoked."
            }
        }
    }
}

/// The create form's input, as typed (shown again after a refusal; never a password).
#[derive(Default)]
struct CreateInput {
    name: String,
    description: String,
    env: String,
    scopes: Vec<String>,
    expires_in: String,
    allow_ips: String,
    inactive_after: String,
}

impl CreateInput {
    fn from_fields(f: &Fields) -> CreateInput {
        CreateInput {
            name: f.text("name"),
            description: f.text("description"),
            env: f.text("env"),
            scopes: f.all("scopes"),
            expires_in: f.text("expires_in"),
            allow_ips: f.text("allow_ips"),
            inactive_after: f.text("inactive_after"),
        }
    }

    /// The domain's input, or what is wrong with a duration.
    fn parse(&self) -> Result<CreateIntegration, String> {
        Ok(CreateIntegration {
            name: self.name.clone(),
            description: Some(self.description.clone()),
            env: Some(if self.env.is_empty() {
                "live".to_string()
            } else {
                self.env.clone()
            }),
            scopes: self.scopes.clone(),
            expires_in: optional_duration("Expires in", &self.expires_in)?,
            allow_ips: lines(&self.allow_ips),
            inactive_after: optional_duration(
                "Stop working after unused for",
                &self.inactive_after,
            )?,
        })
    }
}

/// A duration field: empty means none.
fn optional_duration(label: &str, raw: &str) -> Result<Option<Duration>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    crate::duration::parse(raw)
        .map(Some)
        .map_err(|e| format!("{label}: {e}."))
}

/// One entry per line (or separated by spaces or commas), empty ones dropped.
pub(crate) fn lines(raw: &str) -> Vec<String> {
    raw.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The scopes the user's role may grant, and the others with why not.
fn split_scopes(all: Vec<ScopeDef>, role: Role) -> (Vec<ScopeDef>, Vec<ScopeDef>) {
    all.into_iter().partition(|s| role.allows(s.min_role))
}

/// What the create form needs from the store: the scopes and the plan's answer.
async fn create_context(
    state: &AppState,
    visit: &OrgVisit,
) -> Result<(Vec<ScopeDef>, Vec<ScopeDef>, Option<Upgrade>), HttpResponse> {
    let org = visit.org.clone();
    let role = visit.role;
    let loaded = state
        .db
        .run(move |conn| {
            let scopes = ScopeDef::list(conn)?;
            let upgrade = upgrade_needed(conn, &org)?;
            Ok::<_, AdminError>((scopes, upgrade))
        })
        .await;
    match loaded {
        Ok((scopes, upgrade)) => {
            let (offered, withheld) = split_scopes(scopes, role);
            Ok((offered, withheld, upgrade))
        }
        Err(e) => Err(refusal_page(visit.nav(), e)),
    }
}

/// `GET /console/orgs/{org}/integrations/new`.
pub(crate) async fn new(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let visit = match visit(&req, &state, &path).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(NEEDED, MANAGING, false) {
        return answer;
    }
    let (offered, withheld, upgrade) = match create_context(&state, &visit).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    if let Some(u) = upgrade {
        return upgrade_page(&visit, &u, StatusCode::OK);
    }
    let ask = !visit.user.recently_authenticated(&state);
    let input = CreateInput {
        env: "live".into(),
        ..Default::default()
    };
    create_form(
        &visit,
        &offered,
        &withheld,
        &input,
        None,
        ask,
        StatusCode::OK,
    )
}

fn upgrade_page(visit: &OrgVisit, u: &Upgrade, status: StatusCode) -> HttpResponse {
    page(
        status,
        layout(
            "Create integration",
            Some(visit.nav()),
            Section::Integrations,
            html! {
                h1 { "Create integration" }
                (upgrade_box(visit, u))
                p { a href=(base(&visit.org.slug)) { "Back to integrations" } }
            },
        ),
    )
}

/// The "Confirm your password" field, when the last password entry is too old.
pub(crate) fn password_field(ask: bool) -> Markup {
    html! {
        @if ask {
            label for="password" { "Confirm your password" }
            input #password type="password" name="password" autocomplete="current-password" required aria-describedby="password-hint";
            p.hint #password-hint { "You signed in a while ago: type your password again before a new secret is shown." }
        }
    }
}

fn create_form(
    visit: &OrgVisit,
    offered: &[ScopeDef],
    withheld: &[ScopeDef],
    input: &CreateInput,
    error: Option<&str>,
    ask_password: bool,
    status: StatusCode,
) -> HttpResponse {
    let slug = &visit.org.slug;
    page(
        status,
        layout(
            "Create integration",
            Some(visit.nav()),
            Section::Integrations,
            html! {
                h1 { "Create integration" }
                @if let Some(error) = error { p.alert role="alert" { (error) } }
                form method="post" action=(format!("{}/new", base(slug))) {
                    input type="hidden" name="csrf_token" value=(visit.csrf());
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(input.name) required maxlength="100";
                    label for="description" { "Description" }
                    input #description type="text" name="description" value=(input.description) maxlength="500";
                    fieldset {
                        legend { "Environment" }
                        label { input type="radio" name="env" value="live" checked[input.env != "test"]; "Live" }
                        label { input type="radio" name="env" value="test" checked[input.env == "test"]; "Test" }
                    }
                    fieldset aria-describedby="scopes-hint" {
                        legend { "Scopes" }
                        p.hint #scopes-hint { "Choose the fewest the integration needs." }
                        @for s in offered {
                            label {
                                input type="checkbox" name="scopes" value=(s.name) checked[input.scopes.contains(&s.name)];
                                (s.name)
                            }
                            @if !s.description.is_empty() { span.hint { (s.description) } }
                            br;
                        }
                        @if !withheld.is_empty() {
                            p.hint { "Not offered (your role, " (visit.role) ", may not grant them):" }
                            ul.plain.muted {
                                @for s in withheld {
                                    li { code { (s.name) } " — needs the " (s.min_role) " role or higher" }
                                }
                            }
                        }
                    }
                    label for="expires_in" { "Expires in" }
                    input #expires_in type="text" name="expires_in" value=(input.expires_in) aria-describedby="expires-hint";
                    p.hint #expires-hint { "A duration such as 90d or 12h. Empty: never." }
                    label for="allow_ips" { "Allowed IP addresses" }
                    textarea #allow_ips name="allow_ips" aria-describedby="ips-hint" { (input.allow_ips) }
                    p.hint #ips-hint { "One address or CIDR network per line, e.g. 203.0.113.0/24. Empty: anywhere." }
                    label for="inactive_after" { "Stop working after unused for" }
                    input #inactive_after type="text" name="inactive_after" value=(input.inactive_after) aria-describedby="inactive-hint";
                    p.hint #inactive-hint { "A duration such as 30d. Empty: never." }
                    (password_field(ask_password))
                    button type="submit" { "Create integration" }
                }
            },
        ),
    )
}

/// `POST /console/orgs/{org}/integrations/new`: creates the integration and answers with the
/// one-time page.
pub(crate) async fn create(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (visit, fields) = match post_form(&req, &state, payload, &path).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(NEEDED, MANAGING, true) {
        return answer;
    }
    let (offered, withheld, upgrade) = match create_context(&state, &visit).await {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    if let Some(u) = upgrade {
        return upgrade_page(&visit, &u, StatusCode::FORBIDDEN);
    }
    let input = CreateInput::from_fields(&fields);
    let again = |status: StatusCode, message: &str, ask: bool| {
        create_form(
            &visit,
            &offered,
            &withheld,
            &input,
            Some(message),
            ask,
            status,
        )
    };
    if let Err(refused) = reauth(&req, &state, &visit.user, &fields).await {
        return refused.finish(again(refused.status, &refused.message, true));
    }
    let parsed = match input.parse() {
        Ok(parsed) => parsed,
        Err(message) => return again(StatusCode::UNPROCESSABLE_ENTITY, &message, false),
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let creator = visit.creator();
    let brand = state.config.token_brand.clone();
    let issued = state
        .run_change(move |conn| integrations::create(conn, &actor, &org, &creator, &brand, &parsed))
        .await;
    if issued.is_ok() {
        spend_forms(&state, &visit.user).await;
    }
    match issued {
        Ok(issued) => {
            let done = one(&visit.org.slug, &issued.integration.id);
            one_time_page(
                visit.nav(),
                &Secret {
                    heading: "Copy your token now",
                    label: "Token",
                    noun: "token",
                    text: &issued.token,
                },
                &issued.integration.name,
                &done,
            )
        }
        Err(AdminError::Invalid(invalid)) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{invalid}."),
            false,
        ),
        Err(e) => refusal_page(visit.nav(), e),
    }
}

/// A secret to show once.
pub(crate) struct Secret<'a> {
    /// The page's `h1`, e.g. "Copy your token now".
    pub(crate) heading: &'a str,
    /// The field's label, e.g. "Token".
    pub(crate) label: &'a str,
    /// What it is, in a sentence.
    pub(crate) noun: &'a str,
    pub(crate) text: &'a str,
}

/// The one-time page: the answer to the POST that made a secret, never reachable again
/// (`no-store`, like every console page). The copy button is `console.js`'s; without script
/// the field is selectable.
pub(crate) fn one_time_page(
    nav: Nav<'_>,
    secret: &Secret<'_>,
    of: &str,
    done: &str,
) -> HttpResponse {
    page(
        StatusCode::OK,
        layout(
            secret.heading,
            Some(nav),
            Section::None,
            html! {
                h1 { (secret.heading) }
                p.warning {
                    "This " (secret.noun) " for " strong { (of) } " will not be shown again. "
                    "Copy it now and keep it somewhere safe, such as a secret manager."
                }
                label for="secret" { (secret.label) }
                input #secret.secret type="text" readonly value=(secret.text) autocomplete="off" spellcheck="false";
                button type="button" data-copy="secret" data-status="copy-status" { "Copy" }
                p #copy-status role="status" {}
                p { a href=(done) { "Done" } }
            },
        ),
    )
}

/// `GET /console/orgs/{org}/integrations/{id}`.
pub(crate) async fn show(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Done>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let visit = match visit(&req, &state, &slug).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(NEEDED, MANAGING, false) {
        return answer;
    }
    let org = visit.org.clone();
    let loaded = state
        .db
        .run(move |conn| {
            let v = integrations::show(conn, &org, &id)?;
            let upgrade = upgrade_needed(conn, &org)?;
            Ok::<_, AdminError>((v, upgrade))
        })
        .await;
    let (v, upgrade) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let now = crate::clock::now();
    let here = one(&visit.org.slug, &v.id);
    let message = done_message(query.done.as_deref());
    let alive = v.status != Status::Revoked && v.expires_at.is_none_or(|e| e > now);
    page(
        StatusCode::OK,
        layout(
            &v.name,
            Some(visit.nav()),
            Section::Integrations,
            html! {
                h1 { (v.name) }
                (status_message(message))
                @if v.created_by_former_member {
                    p.warning { "Created by a former member — consider rotating its token." }
                }
                dl.details {
                    dt { "Status" } dd { (status_text(&v, now)) }
                    dt { "Description" } dd { @if v.description.is_empty() { span.muted { "None" } } @else { (v.description) } }
                    dt { "Environment" } dd { (v.env) }
                    dt { "Scopes" } dd { @for (i, s) in v.scopes.iter().enumerate() { @if i > 0 { " " } code { (s) } } }
                    dt { "Key" } dd { (key(&v.prefix, &v.last4)) }
                    dt { "Expires" } dd { (v.expires_at.map_or_else(|| "Never".to_string(), when)) }
                    dt { "Stops working after unused for" } dd {
                        (v.inactive_after.as_deref().unwrap_or("Never"))
                    }
                    dt { "Allowed IP addresses" } dd {
                        @if v.allow_ips.is_empty() { "Anywhere" } @else { @for ip in &v.allow_ips { code { (ip) } " " } }
                    }
                    dt { "Last used" } dd { (last_used(v.last_used_at, v.last_used_ip.as_deref())) }
                    dt { "Uses" } dd { (v.use_count) }
                    dt { "Created" } dd {
                        (created(&v))
                    }
                }
                p.actions {
                    @if alive && upgrade.is_none() { a href=(format!("{here}/rotate")) { "Rotate" } }
                    @if v.status != Status::Revoked {
                        a href=(format!("{here}/expire")) { "Expire" }
                        a href=(format!("{here}/revoke")) { "Revoke" }
                    }
                    a href=(format!("{here}/edit")) { "Edit" }
                }
                @if let Some(u) = &upgrade {
                    p.muted { "Rotating issues a new token, which the " (u.plan) " plan does not include; upgrade to the " (u.required) " plan to rotate." }
                }
                table {
                    caption { "Tokens" }
                    thead { tr {
                        th scope="col" { "Key" } th scope="col" { "Status" } th scope="col" { "Created" }
                        th scope="col" { "Expires" } th scope="col" { "Last used" } th scope="col" { "Uses" }
                    } }
                    tbody {
                        @for t in &v.tokens {
                            tr {
                                td { (key(&t.prefix, &t.last4)) }
                                td { (token_status(t)) }
                                td { (when(t.created_at)) }
                                td { (t.expires_at.map_or_else(|| "Never".to_string(), when)) }
                                td { (last_used(t.last_used_at, t.last_used_ip.as_deref())) }
                                td { (t.use_count) }
                            }
                        }
                    }
                }
                p { a href=(base(&visit.org.slug)) { "Back to integrations" } }
            },
        ),
    )
}

/// One token's status: "Active", "Expiring <date>" (a rotation's grace period, or the
/// integration's expiry), "Expired" or "Revoked".
fn token_status(t: &crate::integrations::TokenView) -> String {
    match (t.status, t.expires_at) {
        (Status::Active, Some(at)) => format!("Expiring {}", when(at)),
        (Status::Active, None) => "Active".into(),
        (Status::Expired, _) => "Expired".into(),
        (Status::Revoked, _) => "Revoked".into(),
    }
}

/// One action's page: what it is about and its form (shared with the other sections' actions).
pub(crate) struct ActionForm {
    /// The last segment of the action's path (`rotate`, `expire`, …).
    pub(crate) action: &'static str,
    /// The `h1`, naming the integration.
    pub(crate) title: String,
    pub(crate) intro: Markup,
    /// The form's fields, before its submit button.
    pub(crate) fields: Markup,
    pub(crate) button: &'static str,
    /// A destructive action's button is shown as such.
    pub(crate) danger: bool,
    /// Where the navigation says the page is.
    pub(crate) section: Section,
}

/// An action's page about the thing at `here` (its page; the form posts to `here/<action>`),
/// with `error` in an alert above the form when a submission was refused.
pub(crate) fn action_page(
    visit: &OrgVisit,
    here: &str,
    form: ActionForm,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    page(
        status,
        layout(
            &form.title,
            Some(visit.nav()),
            form.section,
            html! {
                h1 { (form.title) }
                @if let Some(error) = error { p.alert role="alert" { (error) } }
                (form.intro)
                form method="post" action=(format!("{here}/{}", form.action)) {
                    input type="hidden" name="csrf_token" value=(visit.csrf());
                    (form.fields)
                    button.danger[form.danger] type="submit" { (form.button) }
                    a.button.secondary href=(here) { "Cancel" }
                }
            },
        ),
    )
}

/// A GET of an action page: the session, the role, the integration.
async fn action_visit(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    id: String,
) -> Result<(OrgVisit, IntegrationView), HttpResponse> {
    visit_about(req, state, slug, (NEEDED, MANAGING), move |conn, org| {
        integrations::show(conn, org, &id)
    })
    .await
}

/// A POST of an action: the checks of [`post_form`], the role, the integration.
async fn action_post(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    slug: &str,
    id: String,
) -> Result<(OrgVisit, Fields, IntegrationView), HttpResponse> {
    post_about(
        req,
        state,
        payload,
        slug,
        (NEEDED, MANAGING),
        move |conn, org| integrations::show(conn, org, &id),
    )
    .await
}

fn rotate_form(
    visit: &OrgVisit,
    v: &IntegrationView,
    chosen: &str,
    ask: bool,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    action_page(
        visit,
        &one(&visit.org.slug, &v.id),
        ActionForm {
            action: "rotate",
            title: format!("Rotate {}", v.name),
            intro: html! {
                p { "Rotating issues a new token for " strong { (v.name) } " and shows it once. "
                    "The current token (" (key(&v.prefix, &v.last4)) ") stops working now, or after a grace period while you deploy the new one." }
            },
            fields: html! {
                label for="grace" { "Old token keeps working for" }
                select #grace name="grace" {
                    @for (value, text) in GRACE_CHOICES {
                        option value=(value) selected[value == chosen] { (text) }
                    }
                }
                (password_field(ask))
            },
            button: "Rotate token",
            danger: false,
            section: Section::Integrations,
        },
        error,
        status,
    )
}

/// `GET …/integrations/{id}/rotate`.
pub(crate) async fn rotate_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    match action_visit(&req, &state, &slug, id).await {
        Ok((visit, v)) => {
            let ask = !visit.user.recently_authenticated(&state);
            rotate_form(&visit, &v, "0s", ask, None, StatusCode::OK)
        }
        Err(answer) => answer,
    }
}

/// The grace period chosen: one of the page's choices, or any duration up to 7 days.
pub(crate) fn grace(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "0" || raw == "0s" {
        return Ok(Duration::ZERO);
    }
    let d = crate::duration::parse(raw).map_err(|e| format!("{e}."))?;
    if d > integrations::MAX_ROTATION_GRACE {
        return Err("The old token can keep working for at most 7 days.".into());
    }
    Ok(d)
}

/// `POST …/integrations/{id}/rotate`: `grace`, and the password when asked; answers with the
/// one-time page.
pub(crate) async fn rotate(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, fields, v) = match action_post(&req, &state, payload, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let chosen = fields.text("grace");
    if let Err(refused) = reauth(&req, &state, &visit.user, &fields).await {
        let NotConfirmed {
            status, message, ..
        } = &refused;
        return refused.finish(rotate_form(
            &visit,
            &v,
            &chosen,
            true,
            Some(message),
            *status,
        ));
    }
    let grace = match grace(&chosen) {
        Ok(g) => g,
        Err(message) => {
            return rotate_form(
                &visit,
                &v,
                &chosen,
                false,
                Some(&message),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let actor = visit.actor(source(&req, &state));
    let creator = visit.creator();
    let org = visit.org.clone();
    let brand = state.config.token_brand.clone();
    let id = v.id.clone();
    let issued = state
        .run_change(move |conn| {
            integrations::rotate(conn, &actor, &creator, &org, &id, grace, &brand)
        })
        .await;
    if issued.is_ok() {
        spend_forms(&state, &visit.user).await;
    }
    match issued {
        Ok(issued) => {
            let done = format!(
                "{}?done=rotated",
                one(&visit.org.slug, &issued.integration.id)
            );
            one_time_page(
                visit.nav(),
                &Secret {
                    heading: "Copy your token now",
                    label: "Token",
                    noun: "token",
                    text: &issued.token,
                },
                &issued.integration.name,
                &done,
            )
        }
        Err(e) => refusal_page(visit.nav(), e),
    }
}

fn expire_form(
    visit: &OrgVisit,
    v: &IntegrationView,
    typed: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    action_page(
        visit,
        &one(&visit.org.slug, &v.id),
        ActionForm {
            action: "expire",
            title: format!("Expire {}", v.name),
            intro: html! {
                p { "Every token of " strong { (v.name) } " stops working at the time you set. "
                    "Expiring never extends a life: if it already expires earlier, that stands." }
                @if let Some(at) = v.expires_at { p { "It expires now at " (when(at)) "." } }
            },
            fields: html! {
                label for="in" { "Expire in" }
                input #in type="text" name="in" value=(typed) aria-describedby="in-hint";
                p.hint #in-hint { "A duration such as 2h or 7d, or a date as YYYY-MM-DD (midnight UTC). Empty: now." }
            },
            button: "Expire",
            danger: true,
            section: Section::Integrations,
        },
        error,
        status,
    )
}

/// `GET …/integrations/{id}/expire`.
pub(crate) async fn expire_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    match action_visit(&req, &state, &slug, id).await {
        Ok((visit, v)) => expire_form(&visit, &v, "", None, StatusCode::OK),
        Err(answer) => answer,
    }
}

/// When to expire: empty (now), a duration, or a date (midnight UTC, in the future).
fn expire_after(raw: &str, now: NaiveDateTime) -> Result<Duration, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Duration::ZERO);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let at = date.and_time(chrono::NaiveTime::MIN);
        if at <= now {
            return Err(
                "That date has passed. Leave the field empty to expire it now.".to_string(),
            );
        }
        let d = (at - now)
            .to_std()
            .map_err(|_| "That date cannot be used.".to_string())?;
        // The bound of every duration (`duration::parse`): ten years.
        if d > Duration::from_secs(10 * 365 * 86400) {
            return Err("That date is more than ten years away.".to_string());
        }
        return Ok(d);
    }
    crate::duration::parse(raw).map_err(|e| format!("{e}, or a date as YYYY-MM-DD."))
}

/// `POST …/integrations/{id}/expire`: `in`.
pub(crate) async fn expire(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, fields, v) = match action_post(&req, &state, payload, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let typed = fields.text("in");
    let after = match expire_after(&typed, crate::clock::now()) {
        Ok(after) => after,
        Err(message) => {
            return expire_form(
                &visit,
                &v,
                &typed,
                Some(&message),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let id = v.id.clone();
    let done = state
        .run_change(move |conn| integrations::expire(conn, &actor, &org, &id, after))
        .await;
    match done {
        Ok(expiring) => {
            let code = if expiring.kept_earlier_expiry {
                "expiry-kept"
            } else {
                "expired"
            };
            redirect(&format!("{}?done={code}", one(&visit.org.slug, &v.id)))
        }
        Err(e) => refusal_page(visit.nav(), e),
    }
}

/// `GET …/integrations/{id}/revoke`.
pub(crate) async fn revoke_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, v) = match action_visit(&req, &state, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    action_page(
        &visit,
        &one(&visit.org.slug, &v.id),
        ActionForm {
            action: "revoke",
            title: format!("Revoke {}?", v.name),
            intro: html! {
                p.warning { "Every token of " strong { (v.name) } " stops working at once, for good. "
                    "Anything that still uses it will be refused. This cannot be undone." }
            },
            fields: html! {},
            button: "Revoke integration",
            danger: true,
            section: Section::Integrations,
        },
        None,
        StatusCode::OK,
    )
}

/// `POST …/integrations/{id}/revoke`: then 303 to the list.
pub(crate) async fn revoke(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, _, v) = match action_post(&req, &state, payload, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let id = v.id.clone();
    let done = state
        .run_change(move |conn| integrations::revoke(conn, &actor, &org, &id))
        .await;
    match done {
        Ok(_) => redirect(&format!("{}?done=revoked", base(&visit.org.slug))),
        Err(e) => refusal_page(visit.nav(), e),
    }
}

/// The edit form's input, as typed.
struct EditInput {
    name: String,
    description: String,
    allow_ips: String,
}

fn edit_form(
    visit: &OrgVisit,
    v: &IntegrationView,
    input: &EditInput,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    action_page(
        visit,
        &one(&visit.org.slug, &v.id),
        ActionForm {
            action: "edit",
            title: format!("Edit {}", v.name),
            intro: html! {},
            fields: html! {
                label for="name" { "Name" }
                input #name type="text" name="name" value=(input.name) required maxlength="100";
                label for="description" { "Description" }
                input #description type="text" name="description" value=(input.description) maxlength="500";
                label for="allow_ips" { "Allowed IP addresses" }
                textarea #allow_ips name="allow_ips" aria-describedby="ips-hint" { (input.allow_ips) }
                p.hint #ips-hint { "One address or CIDR network per line. Empty: anywhere." }
            },
            button: "Save",
            danger: false,
            section: Section::Integrations,
        },
        error,
        status,
    )
}

/// `GET …/integrations/{id}/edit`.
pub(crate) async fn edit_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, v) = match action_visit(&req, &state, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let input = EditInput {
        name: v.name.clone(),
        description: v.description.clone(),
        allow_ips: v.allow_ips.join("\n"),
    };
    edit_form(&visit, &v, &input, None, StatusCode::OK)
}

/// `POST …/integrations/{id}/edit`: `name`, `description`, `allow_ips`; then 303 to its page.
pub(crate) async fn edit(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, fields, v) = match action_post(&req, &state, payload, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let input = EditInput {
        name: fields.text("name"),
        description: fields.text("description"),
        allow_ips: fields.text("allow_ips"),
    };
    let change = UpdateIntegration {
        name: Some(input.name.clone()),
        description: Some(input.description.clone()),
        allow_ips: Some(lines(&input.allow_ips)),
    };
    let actor = visit.actor(source(&req, &state));
    let creator = visit.creator();
    let org = visit.org.clone();
    let id = v.id.clone();
    let done = state
        .run_change(move |conn| integrations::update(conn, &actor, &creator, &org, &id, &change))
        .await;
    match done {
        Ok(_) => redirect(&format!("{}?done=saved", one(&visit.org.slug, &v.id))),
        Err(AdminError::Invalid(invalid)) => edit_form(
            &visit,
            &v,
            &input,
            Some(&format!("{invalid}.")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => refusal_page(visit.nav(), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_a_duration_a_future_date_or_nothing() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(expire_after("", now).unwrap(), Duration::ZERO);
        assert_eq!(expire_after("2h", now).unwrap(), Duration::from_secs(7200));
        assert_eq!(
            expire_after("2026-12-01", now).unwrap(),
            Duration::from_secs(12 * 3600)
        );
        assert!(expire_after("2026-11-30", now).is_err());
        assert!(expire_after("soon", now).is_err());
    }

    #[test]
    fn grace_is_capped_at_seven_days() {
        assert_eq!(grace("0s").unwrap(), Duration::ZERO);
        assert_eq!(grace("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(grace("7d").unwrap(), integrations::MAX_ROTATION_GRACE);
        assert!(grace("8d").is_err());
        assert!(grace("later").is_err());
    }

    #[test]
    fn allowlists_are_one_entry_per_line() {
        assert_eq!(
            lines("203.0.113.0/24\r\n\n 10.0.0.1 \n"),
            vec!["203.0.113.0/24".to_string(), "10.0.0.1".to_string()]
        );
    }
}
