//! `GET /v1/orgs/{org}/audit`: the organization's audit trail, newest first.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::{Page, caller};
use crate::roles::Role;
use crate::store::audit::{self, AuditEvent};
use crate::web::error::ApiError;
use crate::web::state::AppState;

/// A page of the audit trail, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditPage {
    events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; `null` when this page is the last.
    next_before: Option<i64>,
}

/// `limit` (1–1000, default 100) and `before` (an event id) of the audit listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "the query's shape for the OpenAPI document; `Page` reads it"
)]
pub(crate) struct AuditQuery {
    /// How many events, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only events older than this id.
    before: Option<i64>,
}

/// The organization's audit trail, newest first (scope `audit:read`, role `admin` or higher).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/audit",
    operation_id = "list_audit_events",
    tag = "audit",
    params(("org" = String, Path, description = "The organization's slug."), AuditQuery),
    security(("oauth2" = ["audit:read"]), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of events; `next_before` asks for the next one (`null` at the end).", body = AuditPage),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    page: web::Query<Page>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = caller::acting(&req, &state, &path, "audit:read", Role::Admin).await?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::unprocessable("limit must be from 1 to 1000"));
    }
    let before = page.before;
    let events = state
        .db
        .run(move |conn| audit::list_for_org(conn, acting.org.id, limit, before))
        .await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(HttpResponse::Ok().json(AuditPage {
        events,
        next_before: next,
    }))
}
