//! `/healthz` (liveness) and `/readyz` (readiness: the database answers).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error;
use super::state::AppState;

/// A probe's answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Probe {
    /// `ok` (liveness) or `ready` (readiness).
    status: &'static str,
}

/// Liveness: the process is up and serving HTTP. Touches nothing else.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The process is up: `{\"status\": \"ok\"}`.", body = Probe),
        crate::web::openapi::shapes::BadInput,
    ),
)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: the database answers. A load balancer stops sending traffic on 503.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers: `{\"status\": \"ready\"}`.", body = Probe),
        (status = 503, description = "The database does not answer.", body = crate::web::openapi::shapes::NotReady,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again."))),
        crate::web::openapi::shapes::BadInput,
    ),
)]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    match db.run(crate::store::ping).await {
        Ok(()) => HttpResponse::Ok().json(Probe { status: "ready" }),
        Err(e) => {
            tracing::warn!(cause = %e, "readiness check failed");
            error::not_ready()
        }
    }
}
