//! `/console/orgs/{org}/members…`: the members and their roles; add an existing user or create
//! one (its generated initial password on the one-time page, after the password is confirmed
//! when the sign-in is older than `TESSERA_REAUTH_WINDOW`); change a role; remove a member
//! (after a confirmation naming them). The rules — who may grant `owner`, the last owner — are
//! `admin::members`'s, checked there for every caller; here the role `admin` or higher is
//! needed to see the page at all, as the management API asks.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::integrations::{Secret, one_time_page};
use super::layout::{
    Done, Section, done_message, layout, org_path, page, redirect, refusal_page, status_message,
    when,
};
use super::{OrgVisit, post_form, reauth, source, spend_forms, visit};
use crate::admin::AdminError;
use crate::admin::members::{self, CreatedMember};
use crate::roles::Role;
use crate::store::users::Member;
use crate::web::state::AppState;

/// The section's name, and what the role check names.
const MANAGING: (&str, &str) = ("Members", "Managing members");

fn base(slug: &str) -> String {
    format!("{}/members", org_path(slug))
}

/// The status message after an action on members (`?done=…`): fixed texts only.
fn members_message(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "added" => "The member was added.",
        "role-changed" => "The role was changed.",
        "removed" => "The member was removed. Their OAuth grants here were revoked.",
        other => return done_message(Some(other)),
    })
}

/// The add form's input, as typed (never a password).
#[derive(Default)]
struct AddInput {
    username: String,
    role: String,
    create: bool,
}

/// `GET /console/orgs/{org}/members`.
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
    let message = members_message(query.done.as_deref());
    let input = AddInput {
        role: "member".into(),
        ..Default::default()
    };
    members_page(&state, &visit, &input, message, None, StatusCode::OK).await
}

async fn members_page(
    state: &AppState,
    visit: &OrgVisit,
    input: &AddInput,
    message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let org = visit.org.clone();
    let listed = state.db.run(move |conn| members::list(conn, &org)).await;
    let all = match listed {
        Ok(list) => list.members,
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let ask = !visit.user.recently_authenticated(state);
    let slug = &visit.org.slug;
    page(
        status,
        layout(
            "Members",
            Some(visit.nav()),
            Section::Members,
            html! {
                h1 { "Members" }
                (status_message(message))
                table {
                    caption { "Members of " (visit.org.name) }
                    thead { tr {
                        th scope="col" { "Username" } th scope="col" { "Role" }
                        th scope="col" { "Member since" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for m in &all {
                            tr {
                                td { (m.username) }
                                td { (role_form(visit, m)) }
                                td { (when(m.since)) }
                                td { a href=(format!("{}/{}/remove", base(slug), m.username)) { "Remove " span.visually-hidden { (m.username) } } }
                            }
                        }
                    }
                }
                section aria-labelledby="add-member" {
                    h2 #add-member { "Add member" }
                    @if let Some(error) = error { p.alert role="alert" { (error) } }
                    form method="post" action=(base(slug)) aria-labelledby="add-member" {
                        input type="hidden" name="csrf_token" value=(visit.csrf());
                        label for="username" { "Username" }
                        input #username type="text" name="username" value=(input.username) required autocomplete="off";
                        label for="role" { "Role" }
                        (role_select("role", "role", &input.role))
                        label.check {
                            input type="checkbox" name="create" value="yes" checked[input.create];
                            "Create a new user (an initial password is generated and shown once)"
                        }
                        @if ask {
                            label for="password" { "Confirm your password" }
                            input #password type="password" name="password" autocomplete="current-password" aria-describedby="password-hint";
                            p.hint #password-hint { "Needed to create a new user: you signed in a while ago." }
                        }
                        button type="submit" { "Add member" }
                    }
                }
            },
        ),
    )
}

fn role_select(id: &str, name: &str, chosen: &str) -> Markup {
    html! {
        select id=(id) name=(name) {
            @for r in Role::ALL {
                option value=(r.as_str()) selected[r.as_str() == chosen] { (r.as_str()) }
            }
        }
    }
}

/// A member's role, as a small form that changes it.
fn role_form(visit: &OrgVisit, m: &Member) -> Markup {
    let id = format!("role-{}", m.username);
    html! {
        form.inline method="post" action=(format!("{}/{}/role", base(&visit.org.slug), m.username)) {
            input type="hidden" name="csrf_token" value=(visit.csrf());
            label.visually-hidden for=(id) { "Role of " (m.username) }
            (role_select(&id, "role", m.role.as_str()))
            " "
            button.secondary.small type="submit" { "Change role" span.visually-hidden { " of " (m.username) } }
        }
    }
}

/// `POST /console/orgs/{org}/members`: `username`, `role`, `create` (and `password` when
/// asked); a created user's initial password on the one-time page.
pub(crate) async fn add(
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
    let input = AddInput {
        username: fields.text("username"),
        role: fields.text("role"),
        create: fields.get("create").is_some(),
    };
    let role = match members::parse_role(&input.role) {
        Ok(role) => role,
        Err(AdminError::Invalid(invalid)) => {
            return members_page(
                &state,
                &visit,
                &input,
                None,
                Some(&format!("{invalid}.")),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let acting_role = visit.role;
    let username = input.username.clone();
    let done: Result<CreatedMember, AdminError> = if input.create {
        if let Err(refused) = reauth(&req, &state, &visit.user, &fields).await {
            let answer = members_page(
                &state,
                &visit,
                &input,
                None,
                Some(&refused.message),
                refused.status,
            )
            .await;
            return refused.finish(answer);
        }
        // argon2 on the blocking pool, with no connection held (as the management API does).
        let password = match tokio::task::spawn_blocking(|| members::initial_password(None)).await {
            Ok(Ok(password)) => password,
            Ok(Err(e)) => return refusal_page(visit.nav(), e),
            Err(_) => {
                return refusal_page(
                    visit.nav(),
                    AdminError::Internal("hashing the initial password failed".into()),
                );
            }
        };
        state
            .db
            .run(move |conn| {
                members::create(conn, &actor, acting_role, &org, &username, role, password)
            })
            .await
    } else {
        state
            .db
            .run(move |conn| members::add(conn, &actor, acting_role, &org, &username, role))
            .await
            .map(|member| CreatedMember {
                member,
                initial_password: None,
            })
    };
    if matches!(
        &done,
        Ok(CreatedMember {
            initial_password: Some(_),
            ..
        })
    ) {
        spend_forms(&state, &visit.user).await;
    }
    match done {
        Ok(CreatedMember {
            member,
            initial_password: Some(password),
        }) => one_time_page(
            visit.nav(),
            &Secret {
                heading: "Copy the initial password now",
                label: "Initial password",
                noun: "initial password",
                text: &password,
            },
            &member.username,
            &format!("{}?done=added", base(&visit.org.slug)),
        ),
        Ok(_) => redirect(&format!("{}?done=added", base(&visit.org.slug))),
        Err(AdminError::Invalid(invalid)) => {
            members_page(
                &state,
                &visit,
                &input,
                None,
                Some(&format!("{invalid}.")),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e @ (AdminError::NotFound(_) | AdminError::Conflict(_) | AdminError::Forbidden(_))) => {
            let status = match &e {
                AdminError::NotFound(_) => StatusCode::NOT_FOUND,
                AdminError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::FORBIDDEN,
            };
            members_page(&state, &visit, &input, None, Some(&format!("{e}.")), status).await
        }
        Err(e) => refusal_page(visit.nav(), e),
    }
}

/// `POST /console/orgs/{org}/members/{username}/role`: `role`; then 303 to the members.
pub(crate) async fn set_role(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, username) = path.into_inner();
    let (visit, fields) = match post_form(&req, &state, payload, &slug).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(Role::Admin, MANAGING, true) {
        return answer;
    }
    let role = match members::parse_role(&fields.text("role")) {
        Ok(role) => role,
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let acting_role = visit.role;
    let done = state
        .db
        .run(move |conn| members::set_role(conn, &actor, acting_role, &org, &username, role))
        .await;
    match done {
        Ok(_) => redirect(&format!("{}?done=role-changed", base(&visit.org.slug))),
        Err(e) => refusal_page(visit.nav(), e),
    }
}

/// `GET /console/orgs/{org}/members/{username}/remove`: the confirmation naming the member.
pub(crate) async fn remove_page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, username) = path.into_inner();
    let visit = match visit(&req, &state, &slug).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(Role::Admin, MANAGING, false) {
        return answer;
    }
    let org = visit.org.clone();
    let found = state
        .db
        .run(move |conn| members::show(conn, &org, &username))
        .await;
    let member = match found {
        Ok(member) => member,
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let title = format!("Remove {}?", member.username);
    let back = base(&visit.org.slug);
    page(
        StatusCode::OK,
        layout(
            &title,
            Some(visit.nav()),
            Section::Members,
            html! {
                h1 { (title) }
                p.warning {
                    strong { (member.username) } " (" (member.role) ") leaves " (visit.org.name) ". "
                    "Their OAuth grants here are revoked at once, and their sessions reach this organization no more. "
                    "Integrations they created keep working, marked as created by a former member."
                }
                form method="post" action=(format!("{back}/{}/remove", member.username)) {
                    input type="hidden" name="csrf_token" value=(visit.csrf());
                    button.danger type="submit" { "Remove member" }
                    a.button.secondary href=(back) { "Cancel" }
                }
            },
        ),
    )
}

/// `POST /console/orgs/{org}/members/{username}/remove`: then 303 to the members.
pub(crate) async fn remove(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, username) = path.into_inner();
    let (visit, _) = match post_form(&req, &state, payload, &slug).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(Role::Admin, MANAGING, true) {
        return answer;
    }
    let actor = visit.actor(source(&req, &state));
    let org = visit.org.clone();
    let acting_role = visit.role;
    let done = state
        .db
        .run(move |conn| members::remove(conn, &actor, acting_role, &org, &username))
        .await;
    match done {
        Ok(_) => redirect(&format!("{}?done=removed", base(&visit.org.slug))),
        Err(e) => refusal_page(visit.nav(), e),
    }
}
