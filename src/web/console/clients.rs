//! `/console/orgs/{org}/clients…`: the OAuth clients (apps) the organization registered —
//! register one (a confidential client's secret on the one-time page), its details, rotate its
//! secret with a grace period, edit its name, redirect URIs and scopes, delete it (which
//! revokes its grants). Over `crate::admin::clients`, called as `web::v1::clients` calls it;
//! the role `admin` or higher is needed, as the management API asks (`clients:manage`).
//! Creating a client with a secret, or rotating it, asks for the password again when the
//! sign-in is older than `TESSERA_REAUTH_WINDOW`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::integrations::{
    ActionForm, GRACE_CHOICES, Secret, action_page, grace, lines, one_time_page, password_field,
};
use super::layout::{
    Done, Section, done_message, layout, org_path, page, redirect, refusal_page, status_message,
    when,
};
use super::{
    Fields, OrgVisit, post_about, post_form, reauth, source, spend_forms, visit, visit_about,
};
use crate::admin::AdminError;
use crate::admin::clients::{self, ClientInput, ClientUpdate, ClientView};
use crate::roles::Role;
use crate::store::scopes::ScopeDef;
use crate::web::state::AppState;

/// The section's name, and what the role check names.
const MANAGING: (&str, &str) = ("OAuth clients", "Managing OAuth clients");

fn base(slug: &str) -> String {
    format!("{}/clients", org_path(slug))
}

fn one(slug: &str, client_id: &str) -> String {
    format!("{}/{client_id}", base(slug))
}

/// The status message after an action on clients (`?done=…`): fixed texts only.
fn clients_message(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "registered" => "The client was registered.",
        "secret-rotated" => "The client secret was rotated.",
        "deleted" => "The client was deleted, and its grants revoked.",
        other => return done_message(Some(other)),
    })
}

/// `GET /console/orgs/{org}/clients`.
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
    if let Err(answer) = visit.require(Role::Admin, MANAGING, false) {
        return answer;
    }
    let org = visit.org.clone();
    let listed = state.db.run(move |conn| clients::list(conn, &org)).await;
    let all = match listed {
        Ok(list) => list.clients,
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let slug = &visit.org.slug;
    let message = clients_message(query.done.as_deref());
    page(
        StatusCode::OK,
        layout(
            "OAuth clients",
            Some(visit.nav()),
            Section::Clients,
            html! {
                h1 { "OAuth clients" }
                (status_message(message))
                p { "Apps that sign people in with Tessera (the authorization-code flow with PKCE). "
                    "A confidential client has a secret, shown once; a public one (a single-page or native app) has none." }
                p { a.button href=(format!("{}/new", base(slug))) { "Register client" } }
                table {
                    caption { "OAuth clients" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Client ID" } th scope="col" { "Type" }
                        th scope="col" { "Redirect URIs" } th scope="col" { "Scopes" } th scope="col" { "Registered" }
                    } }
                    tbody {
                        @for c in &all {
                            tr {
                                td { a href=(one(slug, &c.client_id)) { (c.name) } }
                                td { code { (c.client_id) } }
                                td { (c.client_type) }
                                td { @for (i, u) in c.redirect_uris.iter().enumerate() { @if i > 0 { br; } (u) } }
                                td { @for (i, s) in c.scopes.iter().enumerate() { @if i > 0 { " " } code { (s) } } }
                                td { (when(c.created_at)) }
                            }
                        }
                    }
                }
                @if all.is_empty() { p.muted { "No clients yet." } }
            },
        ),
    )
}

/// The register form's input, as typed (never a password).
struct ClientForm {
    name: String,
    redirect_uris: String,
    public: bool,
    scopes: Vec<String>,
}

impl ClientForm {
    fn from_fields(f: &Fields) -> ClientForm {
        ClientForm {
            name: f.text("name"),
            redirect_uris: f.text("redirect_uris"),
            public: f.get("type") == Some("public"),
            scopes: f.all("scopes"),
        }
    }
}

async fn all_scopes(state: &AppState, visit: &OrgVisit) -> Result<Vec<ScopeDef>, HttpResponse> {
    state
        .db
        .run(|conn| ScopeDef::list(conn).map_err(AdminError::from))
        .await
        .map_err(|e| refusal_page(visit.nav(), e))
}

fn scope_boxes(all: &[ScopeDef], chosen: &[String]) -> Markup {
    html! {
        fieldset {
            legend { "Scopes" }
            p.hint { "What the app may ask people for. Each person grants at most what their role allows." }
            @for s in all {
                label {
                    input type="checkbox" name="scopes" value=(s.name) checked[chosen.contains(&s.name)];
                    (s.name)
                }
                @if !s.description.is_empty() { span.hint { (s.description) } }
                br;
            }
        }
    }
}

fn register_form(
    visit: &OrgVisit,
    scopes: &[ScopeDef],
    input: &ClientForm,
    ask: bool,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let slug = &visit.org.slug;
    page(
        status,
        layout(
            "Register client",
            Some(visit.nav()),
            Section::Clients,
            html! {
                h1 { "Register client" }
                @if let Some(error) = error { p.alert role="alert" { (error) } }
                form method="post" action=(format!("{}/new", base(slug))) {
                    input type="hidden" name="csrf_token" value=(visit.csrf());
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(input.name) required maxlength="100";
                    label for="redirect_uris" { "Redirect URIs" }
                    textarea #redirect_uris name="redirect_uris" required aria-describedby="uris-hint" { (input.redirect_uris) }
                    p.hint #uris-hint { "One per line, exactly as the app sends them (https, or http on localhost)." }
                    fieldset {
                        legend { "Client type" }
                        label { input type="radio" name="type" value="confidential" checked[!input.public]; "Confidential (a server-side app with a secret)" }
                        label { input type="radio" name="type" value="public" checked[input.public]; "Public (a single-page or native app, no secret)" }
                    }
                    (scope_boxes(scopes, &input.scopes))
                    (password_field(ask))
                    button type="submit" { "Register client" }
                }
            },
        ),
    )
}

/// `GET /console/orgs/{org}/clients/new`.
pub(crate) async fn new(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let visit = match visit(&req, &state, &path).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(Role::Admin, MANAGING, false) {
        return answer;
    }
    let scopes = match all_scopes(&state, &visit).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let input = ClientForm {
        name: String::new(),
        redirect_uris: String::new(),
        public: false,
        scopes: Vec::new(),
    };
    let ask = !visit.user.recently_authenticated(&state);
    register_form(&visit, &scopes, &input, ask, None, StatusCode::OK)
}

/// `POST /console/orgs/{org}/clients/new`: a confidential client's secret on the one-time
/// page; a public client's page with a status message.
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
    if let Err(answer) = visit.require(Role::Admin, MANAGING, true) {
        return answer;
    }
    let scopes = match all_scopes(&state, &visit).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let input = ClientForm::from_fields(&fields);
    // A secret is made only for a confidential client: only then is the password asked again.
    if !input.public {
        if let Err(refused) = reauth(&req, &state, &visit.user, &fields).await {
            return refused.finish(register_form(
                &visit,
                &scopes,
                &input,
                true,
                Some(&refused.message),
                refused.status,
            ));
        }
    }
    let actor = visit.actor(source(&req, &state));
    let slug = visit.org.slug.clone();
    let brand = state.config.token_brand.clone();
    let (name, uris, public, chosen) = (
        input.name.clone(),
        lines(&input.redirect_uris),
        input.public,
        input.scopes.clone(),
    );
    let created = state
        .db
        .run(move |conn| {
            let input = ClientInput {
                org: &slug,
                name: &name,
                redirect_uris: &uris,
                scopes: &chosen,
                public,
                grant_types: &[],
                refresh_grace: Duration::ZERO,
                cors_origins: &[],
            };
            clients::create(conn, &actor, &brand, &input)
        })
        .await;
    state.webhook_waker.wake();
    if matches!(&created, Ok(r) if r.client_secret.is_some()) {
        spend_forms(&state, &visit.user).await;
    }
    match created {
        Ok(registered) => {
            let here = one(&visit.org.slug, &registered.client.client_id);
            match &registered.client_secret {
                Some(secret) => one_time_page(
                    visit.nav(),
                    &Secret {
                        heading: "Copy your client secret now",
                        label: "Client secret",
                        noun: "client secret",
                        text: secret,
                    },
                    &registered.client.name,
                    &format!("{here}?done=registered"),
                ),
                None => redirect(&format!("{here}?done=registered")),
            }
        }
        Err(AdminError::Invalid(invalid)) => register_form(
            &visit,
            &scopes,
            &input,
            false,
            Some(&format!("{invalid}.")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => refusal_page(visit.nav(), e),
    }
}

/// A GET of a client's page: the session, the role, the client (404 page when it is not the
/// organization's).
async fn client_visit(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    id: String,
) -> Result<(OrgVisit, ClientView), HttpResponse> {
    visit_about(
        req,
        state,
        slug,
        (Role::Admin, MANAGING),
        move |conn, org| clients::show(conn, org, &id),
    )
    .await
}

/// A POST about a client: the checks of `post_form`, the role, the client.
async fn client_post(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    slug: &str,
    id: String,
) -> Result<(OrgVisit, Fields, ClientView), HttpResponse> {
    post_about(
        req,
        state,
        payload,
        slug,
        (Role::Admin, MANAGING),
        move |conn, org| clients::show(conn, org, &id),
    )
    .await
}

/// `GET /console/orgs/{org}/clients/{client_id}`.
pub(crate) async fn show(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<Done>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, c) = match client_visit(&req, &state, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let here = one(&visit.org.slug, &c.client_id);
    let message = clients_message(query.done.as_deref());
    page(
        StatusCode::OK,
        layout(
            &c.name,
            Some(visit.nav()),
            Section::Clients,
            html! {
                h1 { (c.name) }
                (status_message(message))
                dl.details {
                    dt { "Client ID" } dd { code { (c.client_id) } }
                    dt { "Type" } dd { (c.client_type) }
                    dt { "Redirect URIs" } dd { @for u in &c.redirect_uris { (u) br; } }
                    dt { "Scopes" } dd { @for (i, s) in c.scopes.iter().enumerate() { @if i > 0 { " " } code { (s) } } }
                    dt { "Grant types" } dd { (c.grant_types.join(", ")) }
                    dt { "Registered" } dd { (when(c.created_at)) }
                }
                p.actions {
                    @if c.client_type == "confidential" { a href=(format!("{here}/rotate-secret")) { "Rotate secret" } }
                    a href=(format!("{here}/edit")) { "Edit" }
                    a href=(format!("{here}/delete")) { "Delete" }
                }
                p { a href=(base(&visit.org.slug)) { "Back to OAuth clients" } }
            },
        ),
    )
}

fn rotate_form(
    visit: &OrgVisit,
    c: &ClientView,
    chosen: &str,
    ask: bool,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    action_page(
        visit,
        &one(&visit.org.slug, &c.client_id),
        ActionForm {
            action: "rotate-secret",
            title: format!("Rotate the secret of {}", c.name),
            intro: html! {
                p { "A new secret for " strong { (c.name) } " is shown once. The current one stops working now, or after a grace period while you deploy the new one." }
            },
            fields: html! {
                label for="grace" { "Old secret keeps working for" }
                select #grace name="grace" {
                    @for (value, text) in GRACE_CHOICES {
                        option value=(value) selected[value == chosen] { (text) }
                    }
                }
                (password_field(ask))
            },
            button: "Rotate secret",
            danger: false,
            section: Section::Clients,
        },
        error,
        status,
    )
}

/// `GET …/clients/{client_id}/rotate-secret`.
pub(crate) async fn rotate_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    match client_visit(&req, &state, &slug, id).await {
        Ok((visit, c)) => {
            let ask = !visit.user.recently_authenticated(&state);
            rotate_form(&visit, &c, "0s", ask, None, StatusCode::OK)
        }
        Err(answer) => answer,
    }
}

/// `POST …/clients/{client_id}/rotate-secret`: `grace`, and the password when asked; the new
/// secret on the one-time page.
pub(crate) async fn rotate(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, fields, c) = match client_post(&req, &state, payload, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let chosen = fields.text("grace");
    if let Err(refused) = reauth(&req, &state, &visit.user, &fields).await {
        let answer = rotate_form(
            &visit,
            &c,
            &chosen,
            true,
            Some(&refused.message),
            refused.status,
        );
        return refused.finish(answer);
    }
    let grace = match grace(&chosen) {
        Ok(g) => g,
        Err(message) => {
            return rotate_form(
                &visit,
                &c,
                &chosen,
                false,
                Some(&message),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let brand = state.config.token_brand.clone();
    let id = c.client_id.clone();
    let rotated = state
        .run_change(move |conn| clients::rotate_secret(conn, &actor, &brand, &org, &id, grace))
        .await;
    if rotated.is_ok() {
        spend_forms(&state, &visit.user).await;
    }
    match rotated {
        Ok(rotated) => one_time_page(
            visit.nav(),
            &Secret {
                heading: "Copy your client secret now",
                label: "Client secret",
                noun: "client secret",
                text: &rotated.client_secret,
            },
            &c.name,
            &format!("{}?done=secret-rotated", one(&visit.org.slug, &c.client_id)),
        ),
        Err(e) => refusal_page(visit.nav(), e),
    }
}

fn edit_form(
    visit: &OrgVisit,
    c: &ClientView,
    scopes: &[ScopeDef],
    input: &ClientForm,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    action_page(
        visit,
        &one(&visit.org.slug, &c.client_id),
        ActionForm {
            action: "edit",
            title: format!("Edit {}", c.name),
            intro: html! {
                p.hint { "Narrowing the scopes limits what the app may ask for from now on; grants already given keep theirs." }
            },
            fields: html! {
                label for="name" { "Name" }
                input #name type="text" name="name" value=(input.name) required maxlength="100";
                label for="redirect_uris" { "Redirect URIs" }
                textarea #redirect_uris name="redirect_uris" required aria-describedby="uris-hint" { (input.redirect_uris) }
                p.hint #uris-hint { "One per line. A URI removed here is refused at once." }
                (scope_boxes(scopes, &input.scopes))
            },
            button: "Save",
            danger: false,
            section: Section::Clients,
        },
        error,
        status,
    )
}

/// `GET …/clients/{client_id}/edit`.
pub(crate) async fn edit_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, c) = match client_visit(&req, &state, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let scopes = match all_scopes(&state, &visit).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let input = ClientForm {
        name: c.name.clone(),
        redirect_uris: c.redirect_uris.join("\n"),
        public: c.client_type == "public",
        scopes: c.scopes.clone(),
    };
    edit_form(&visit, &c, &scopes, &input, None, StatusCode::OK)
}

/// `POST …/clients/{client_id}/edit`: `name`, `redirect_uris`, `scopes`; then 303 to its page.
pub(crate) async fn edit(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, fields, c) = match client_post(&req, &state, payload, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let input = ClientForm::from_fields(&fields);
    let change = ClientUpdate {
        name: Some(input.name.clone()),
        redirect_uris: Some(lines(&input.redirect_uris)),
        scopes: Some(input.scopes.clone()),
        cors_origins: None,
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let id = c.client_id.clone();
    let done = state
        .db
        .run(move |conn| clients::update(conn, &actor, &org, &id, &change))
        .await;
    match done {
        Ok(_) => redirect(&format!(
            "{}?done=saved",
            one(&visit.org.slug, &c.client_id)
        )),
        Err(AdminError::Invalid(invalid)) => {
            let scopes = match all_scopes(&state, &visit).await {
                Ok(s) => s,
                Err(answer) => return answer,
            };
            edit_form(
                &visit,
                &c,
                &scopes,
                &input,
                Some(&format!("{invalid}.")),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => refusal_page(visit.nav(), e),
    }
}

/// `GET …/clients/{client_id}/delete`.
pub(crate) async fn delete_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, c) = match client_visit(&req, &state, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    action_page(
        &visit,
        &one(&visit.org.slug, &c.client_id),
        ActionForm {
            action: "delete",
            title: format!("Delete {}?", c.name),
            intro: html! {
                p.warning { strong { (c.name) } " stops working at once: every grant people gave it is revoked, "
                    "and its refresh and access tokens are refused. This cannot be undone." }
            },
            fields: html! {},
            button: "Delete client",
            danger: true,
            section: Section::Clients,
        },
        None,
        StatusCode::OK,
    )
}

/// `POST …/clients/{client_id}/delete`: then 303 to the list.
pub(crate) async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (visit, _, c) = match client_post(&req, &state, payload, &slug, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let id = c.client_id.clone();
    let done = state
        .run_change(move |conn| clients::delete(conn, &actor, &org, &id))
        .await;
    match done {
        Ok(_) => redirect(&format!("{}?done=deleted", base(&visit.org.slug))),
        Err(e) => refusal_page(visit.nav(), e),
    }
}
