//! Prometheus metrics over HTTP: the public listener's request series ([`track`], a
//! middleware), and the metrics listener ([`MetricsServer`]), whose one route is
//! `GET /metrics`. The names and what they mean: `telemetry::metrics`.
//!
//! The metrics listener is a server of its own on `TESSERA_METRICS_BIND` (loopback by
//! default), with one worker: `/metrics` is never served by the public listener (404 there),
//! and a busy public listener does not keep a scrape waiting. It stops after the public one.
//!
//! Requests are labelled with the *route template* that matched (`/v1/orgs/{org}/webhooks/{id}`),
//! never the path, or `unmatched`; with the method (`other` beyond the usual seven); and
//! with the status class (`2xx`…). A request for a route without parameters — every hot path:
//! `/v1/check`, `/oauth/token`, the health checks — is labelled by comparing its path with
//! the table below, and its series are resolved once and kept: it costs two atomic adds and a
//! clock read, no allocation beyond the one `from_fn` makes for every middleware. Other routes
//! ask actix to match the path again and look their series up per request.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{App, Error, HttpResponse, HttpServer, web};

use super::error;
use super::paths::*;
/// The address that could not be listened on, and why (`StartError::Bind` to the server).
pub(crate) type BindError = (SocketAddr, std::io::Error);
use crate::revocation::Epoch;
use crate::store::Db;
use crate::telemetry::metrics::{self as telemetry, HttpSeries};

/// The metrics listener's one path.
pub(crate) const METRICS_PATH: &str = "/metrics";

/// Routes whose template is their path (no `{…}` segment), hot paths first.
const STATIC_ROUTES: [&str; 12] = [
    CHECK_PATH,
    TOKEN_PATH,
    INTROSPECT_PATH,
    HEALTHZ_PATH,
    READYZ_PATH,
    REVOKE_PATH,
    JWKS_PATH,
    METADATA_PATH,
    AUTHORIZE_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    SECRET_SCANNING_GITHUB_PATH,
];

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The series of each static route × method × status class, resolved on first use.
static SERIES: [[[OnceLock<HttpSeries>; STATUS_CLASSES.len()]; METHODS.len()];
    STATIC_ROUTES.len()] =
    [const { [const { [const { OnceLock::new() }; STATUS_CLASSES.len()] }; METHODS.len()] };
        STATIC_ROUTES.len()];

fn method_index(method: &Method) -> usize {
    METHODS[..METHODS.len() - 1]
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHODS.len() - 1)
}

/// `1xx` … `5xx` as an index of [`STATUS_CLASSES`] (a status is 100–999; 6xx–9xx, which no
/// handler sends, count as `5xx`).
fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, STATUS_CLASSES.len()) - 1
}

/// What a request is labelled with.
enum Route {
    Static(usize),
    Template(String),
    Unmatched,
}

fn route_of(req: &ServiceRequest) -> Route {
    let path = req.path();
    if let Some(i) = STATIC_ROUTES.iter().position(|r| *r == path) {
        return Route::Static(i);
    }
    match req.match_pattern() {
        Some(template) => Route::Template(template),
        None => Route::Unmatched,
    }
}

/// Counts and times every request of the public listener (see the module doc).
pub(crate) async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if !telemetry::enabled() {
        return next.call(req).await;
    }
    let started = Instant::now();
    let method = method_index(req.method());
    let route = route_of(&req);
    let res = next.call(req).await;
    let elapsed = started.elapsed();
    let status = match &res {
        Ok(r) => r.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let class = class_index(status.as_u16());
    match route {
        Route::Static(i) => {
            let slot = &SERIES[i][method][class];
            let series = match slot.get() {
                Some(s) => Some(s),
                None => {
                    HttpSeries::resolve(METHODS[method], STATIC_ROUTES[i], STATUS_CLASSES[class])
                        .map(|s| slot.get_or_init(|| s))
                }
            };
            if let Some(s) = series {
                s.record(elapsed);
            }
        }
        Route::Template(template) => {
            if let Some(s) = HttpSeries::resolve(METHODS[method], template, STATUS_CLASSES[class]) {
                s.record(elapsed);
            }
        }
        Route::Unmatched => {
            if let Some(s) = HttpSeries::resolve(METHODS[method], UNMATCHED, STATUS_CLASSES[class])
            {
                s.record(elapsed);
            }
        }
    }
    res
}

/// What `/metrics` samples when scraped: the values that are states, not events.
struct Sampled {
    db: Db,
    epoch: Arc<Epoch>,
}

/// `GET /metrics`: the Prometheus text format, or 503 when no recorder could be installed.
async fn metrics(sampled: web::Data<Sampled>) -> HttpResponse {
    let (connections, idle, max) = sampled.db.pool_state();
    telemetry::db_pool(connections, idle, max);
    telemetry::revocation_feed_lag(sampled.epoch.feed_lag());
    match telemetry::render() {
        Some(text) => HttpResponse::Ok()
            .content_type(telemetry::CONTENT_TYPE)
            .insert_header(("cache-control", "no-store"))
            .body(text),
        None => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("metrics are not recorded: another recorder is installed in this process\n"),
    }
}

/// The metrics listener, built by `Server::build` and run beside the public one.
pub(crate) struct MetricsServer {
    server: actix_web::dev::Server,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `bind` (port 0: any free port). Bound before the rest of the start-up, so that a
    /// taken port stops it like the public listener's would.
    pub(crate) fn bind(bind: SocketAddr) -> Result<TcpListener, BindError> {
        TcpListener::bind(bind).map_err(|source| (bind, source))
    }

    /// Installs the process's recorder and builds the server on `listener`; it serves once
    /// [`MetricsServer::spawn`] is called.
    pub(crate) fn build(
        listener: TcpListener,
        db: Db,
        epoch: Arc<Epoch>,
    ) -> Result<MetricsServer, BindError> {
        let addr = listener
            .local_addr()
            .map_err(|source| (([0, 0, 0, 0], 0).into(), source))?;
        telemetry::install();
        let sampled = web::Data::new(Sampled { db, epoch });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(sampled.clone())
                .route(METRICS_PATH, web::get().to(metrics))
                .default_service(web::to(error::not_found))
        })
        .workers(1)
        // Stopped by `Server::run` after the public listener, which handles the signals.
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .map_err(|source| (addr, source))?
        .run();
        Ok(MetricsServer { server, addr })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts serving on the current actix system; the handle stops it.
    pub(crate) fn spawn(self) -> ServerHandle {
        tracing::info!(addr = %self.addr, "metrics listening");
        let handle = self.server.handle();
        actix_web::rt::spawn(self.server);
        handle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        assert_eq!(METHODS[method_index(&Method::GET)], "GET");
        assert_eq!(METHODS[method_index(&Method::OPTIONS)], "OPTIONS");
        assert_eq!(METHODS[method_index(&Method::TRACE)], "other");
        let custom = Method::from_bytes(b"other").unwrap();
        assert_eq!(method_index(&custom), METHODS.len() - 1);
    }

    #[test]
    fn status_classes() {
        assert_eq!(STATUS_CLASSES[class_index(101)], "1xx");
        assert_eq!(STATUS_CLASSES[class_index(200)], "2xx");
        assert_eq!(STATUS_CLASSES[class_index(304)], "3xx");
        assert_eq!(STATUS_CLASSES[class_index(404)], "4xx");
        assert_eq!(STATUS_CLASSES[class_index(503)], "5xx");
        assert_eq!(STATUS_CLASSES[class_index(999)], "5xx");
    }

    #[test]
    fn static_routes_have_no_parameters() {
        for route in STATIC_ROUTES {
            assert!(!route.contains('{'), "{route}");
        }
    }
}
