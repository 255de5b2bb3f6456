//! One structured log line per request: method, path, status, duration. Never the query string
//! (it may carry `code`, `state` or `api_key`) and never a header (Authorization, cookies).
//!
//! The machine-to-machine hot paths — `/v1/check`, `/healthz`, `/readyz` — log at `debug`
//! unless they fail with a 5xx: a gateway calls them for every request it serves and keeps its
//! own access log, and a line per call would cost more than the decision itself.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

fn is_hot_path(path: &str) -> bool {
    matches!(path, "/v1/check" | "/healthz" | "/readyz")
}

pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let hot = is_hot_path(req.path());
    if hot && !tracing::enabled!(target: "tessera::access", tracing::Level::DEBUG) {
        // Still report server errors on the hot paths.
        let res = next.call(req).await;
        if let Ok(r) = &res {
            if r.status().is_server_error() {
                tracing::warn!(target: "tessera::access", method = %r.request().method(), path = %r.request().path(), status = r.status().as_u16(), "request");
            }
        }
        return res;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let res = next.call(req).await;
    let micros = started.elapsed().as_micros() as u64;
    match &res {
        Ok(res) => {
            let status = res.status().as_u16();
            if status >= 500 {
                tracing::warn!(target: "tessera::access", %method, %path, status, micros, "request");
            } else if hot {
                tracing::debug!(target: "tessera::access", %method, %path, status, micros, "request");
            } else {
                tracing::info!(target: "tessera::access", %method, %path, status, micros, "request");
            }
        }
        Err(e) => {
            tracing::warn!(target: "tessera::access", %method, %path, error = %e, micros, "request failed")
        }
    }
    res
}
