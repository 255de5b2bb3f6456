//! `/console/orgs/{org}/audit`: the organization's audit trail, newest first, filtered by
//! integration (its name or id), actor (`user:ada`, or just `ada`) and action, each matched
//! exactly (`store::audit::list`), a page at a time ("Older" pages back by event id). Reading
//! it needs `admin` or `owner`, as `GET /v1/orgs/{org}/audit` does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::layout::{Section, layout, org_path, page, refusal_page, when};
use super::visit;
use crate::admin::AdminError;
use crate::roles::Role;
use crate::store::audit::{self, AuditFilter};
use crate::store::integrations::Integration;
use crate::web::state::AppState;

/// Events per page.
const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    integration: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

fn given(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The actions an organization's trail may hold, offered as suggestions.
const ACTIONS: [&str; 13] = [
    "integration.create",
    "integration.update",
    "integration.rotate",
    "integration.expire",
    "integration.revoke",
    "user.sign_in_failed",
    "user.locked",
    "user.password_changed",
    "org.plan_changed",
    "member.added",
    "member.created",
    "member.role_changed",
    "member.removed",
];

/// `GET /console/orgs/{org}/audit`.
pub(crate) async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let visit = match visit(&req, &state, &path).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    if let Err(answer) = visit.require(Role::Admin, ("Audit log", "Reading the audit log"), false) {
        return answer;
    }
    let query = query.into_inner();
    let typed_integration = given(&query.integration);
    let actor = given(&query.actor).map(|a| {
        if a.contains(':') || a == "cli" || a == "system" || a == "sign-in" {
            a
        } else {
            format!("user:{a}")
        }
    });
    let action = given(&query.action);
    let org_id = visit.org.id;
    let before = query.before;
    let integration = typed_integration.clone();
    let loaded = state
        .db
        .run(move |conn| {
            let integrations = Integration::list_for_org(conn, org_id)?;
            // An integration by its id or its name.
            let target = integration.map(|typed| {
                integrations
                    .iter()
                    .find(|i| i.id == typed || i.name == typed)
                    .map_or(typed, |i| i.id.clone())
            });
            // One more than a page: whether there is an older one.
            let mut events = audit::list(
                conn,
                org_id,
                &AuditFilter {
                    target,
                    actor,
                    action,
                    before,
                    limit: PAGE + 1,
                },
            )?;
            let more = events.len() as i64 > PAGE;
            events.truncate(PAGE as usize);
            let next = more.then(|| events.last().map(|e| e.id)).flatten();
            let names: Vec<(String, String)> =
                integrations.into_iter().map(|i| (i.id, i.name)).collect();
            Ok::<_, AdminError>((events, next, names))
        })
        .await;
    let (events, next, names) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return refusal_page(visit.nav(), e),
    };
    let base = format!("{}/audit", org_path(&visit.org.slug));
    let older = next.map(|id| {
        let mut pairs = vec![("before", id.to_string())];
        for (k, v) in [
            ("integration", &query.integration),
            ("actor", &query.actor),
            ("action", &query.action),
        ] {
            if let Some(v) = given(v) {
                pairs.push((k, v));
            }
        }
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    });
    let name_of = |id: &str| names.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone());
    page(
        StatusCode::OK,
        layout(
            "Audit log",
            Some(visit.nav()),
            Section::Audit,
            html! {
                h1 { "Audit log" }
                form method="get" action=(base) role="search" aria-label="Filter the audit log" {
                    label for="integration" { "Integration" }
                    input #integration type="text" name="integration" value=(typed_integration.as_deref().unwrap_or("")) list="integration-names" aria-describedby="integration-hint";
                    datalist #integration-names { @for (_, name) in &names { option value=(name) {} } }
                    p.hint #integration-hint { "Its name or id." }
                    label for="actor" { "Actor" }
                    input #actor type="text" name="actor" value=(given(&query.actor).unwrap_or_default()) aria-describedby="actor-hint";
                    p.hint #actor-hint { "A username, or cli, system, integration:<id>." }
                    label for="action" { "Action" }
                    input #action type="text" name="action" value=(given(&query.action).unwrap_or_default()) list="actions";
                    datalist #actions { @for a in ACTIONS { option value=(a) {} } }
                    button type="submit" { "Filter" }
                }
                table {
                    caption { "Audit events, newest first" }
                    thead { tr {
                        th scope="col" { "Time" } th scope="col" { "Actor" } th scope="col" { "Action" }
                        th scope="col" { "Target" } th scope="col" { "Source IP" } th scope="col" { "Detail" }
                    } }
                    tbody {
                        @for e in &events {
                            tr {
                                td { (when(e.at)) }
                                td { (e.actor) }
                                td { code { (e.action) } }
                                td {
                                    @if let Some(t) = &e.target {
                                        @if let Some(name) = name_of(t) { (name) " " span.muted { "(" (t) ")" } } @else { (t) }
                                    }
                                }
                                td { (e.ip.as_deref().unwrap_or("")) }
                                td { (e.detail.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
                @if events.is_empty() { p.muted { "No events match." } }
                @if let Some(older) = older { p { a href=(older) { "Older" } } }
            },
        ),
    )
}
