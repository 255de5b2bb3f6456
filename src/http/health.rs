use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

/// Liveness: the process is up and serving HTTP. Touches nothing else.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: the database answers. A load balancer stops sending traffic on 503.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    match web::block(move || db.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(cause = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable",
                "error": { "code": "unavailable", "message": "the database does not answer" }
            }))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" })),
    }
}
