//! Request ids, spans and one structured log line per request.
//!
//! Each request gets an id and a span ([`RequestSpan`], through `tracing-actix-web`) that
//! every log line made while serving it carries — on the blocking pool too, where
//! `store::Db::run` takes the span along. The span holds the method, the path and the id:
//! never the query string (it may carry `code`, `state` or `api_key`) and never a header
//! (Authorization, cookies).
//!
//! The machine-to-machine hot paths — `/v1/check`, `/healthz`, `/readyz` — log, and open
//! their span, at `debug` unless they fail with a 5xx: a gateway calls them for every request
//! it serves and keeps its own access log, and a line per call would cost more than the
//! decision itself.

use std::time::Instant;

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use super::paths::{CHECK_PATH, HEALTHZ_PATH, READYZ_PATH};

fn is_hot_path(path: &str) -> bool {
    path == CHECK_PATH || path == HEALTHZ_PATH || path == READYZ_PATH
}

/// The span of one request: `request{id method path}`.
pub(crate) struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // Field values are evaluated only when the span is enabled: a disabled hot-path span
        // costs nothing.
        let (method, path) = (request.method(), request.path());
        if is_hot_path(path) {
            tracing::debug_span!("request", id = %request_id(request), %method, %path)
        } else {
            tracing::info_span!("request", id = %request_id(request), %method, %path)
        }
    }

    /// The access line ([`access_log`]) reports the outcome.
    fn on_request_end<B: MessageBody>(_: Span, _: &Result<ServiceResponse<B>, Error>) {}
}

fn request_id(request: &ServiceRequest) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// One line per request: method, path, status, duration (µs).
pub(crate) async fn access_log(
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
