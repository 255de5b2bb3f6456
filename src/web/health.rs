//! `/healthz` (liveness) and `/readyz` (readiness: the database answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::error;
use super::state::AppState;

/// Liveness: the process is up and serving HTTP. Touches nothing else.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: the database answers. A load balancer stops sending traffic on 503.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    match db.run(crate::store::ping).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(cause = %e, "readiness check failed");
            error::not_ready()
        }
    }
}
