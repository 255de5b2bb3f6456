//! `GET /v1/orgs/{org}/audit`: the organization's audit trail, newest first, filtered by
//! target, actor and action ([`crate::admin::audit::page`]).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::caller;
use crate::admin::audit::{self, AuditPage};
use crate::roles::Role;
use crate::store::audit::AuditFilter;
use crate::web::error::ApiError;
use crate::web::state::AppState;

/// The audit listing's filters and page: each filter given must match exactly.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only events about this target: an integration id (`int_…`), a client id, a username.
    target: Option<String>,
    /// Only events by this actor: `user:ada`, `integration:int_…`, `cli`, `system`.
    actor: Option<String>,
    /// Only events of this action, e.g. `integration.rotate`, `member.removed`.
    action: Option<String>,
    /// How many events, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only events older than this id (the previous page's `next_before`).
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
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = caller::acting(&req, &state, &path, "audit:read", Role::Admin).await?;
    let query = query.into_inner();
    let filter = AuditFilter {
        target: query.target,
        actor: query.actor,
        action: query.action,
        before: query.before,
        limit: query.limit.unwrap_or(100),
    };
    let page = state
        .db
        .run(move |conn| audit::page(conn, &acting.org, filter))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
