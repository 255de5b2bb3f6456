//! `GET /v1/orgs/{org}/audit`: the organization's audit trail, newest first.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{Page, caller};
use crate::roles::Role;
use crate::store::audit;
use crate::web::error::ApiError;
use crate::web::state::AppState;

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
    Ok(HttpResponse::Ok().json(json!({ "events": events, "next_before": next })))
}
