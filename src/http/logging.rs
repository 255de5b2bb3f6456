//! One structured log line per request: method, path, status, duration. Never the query string
//! (it may carry `code`, `state` or `api_key`) and never a header (Authorization, cookies).

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
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
