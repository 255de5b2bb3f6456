//! HTTP: every route in one place ([`routes`]), shared state, error envelopes, middleware.

pub mod client_ip;
pub mod error;
pub mod health;
pub mod logging;

use std::sync::Arc;

use actix_web::web;

use crate::access::checker::Checker;
use crate::config::Config;
use crate::integrations::usage::UsageRecorder;
use crate::oauth::OAuthContext;
use crate::store::Db;

/// What every handler can reach.
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub oauth: OAuthContext,
    pub usage: Arc<UsageRecorder>,
    pub checker: Arc<Checker>,
}

/// Request body limits: OAuth and management requests are small; anything bigger is refused
/// before it is read.
pub const JSON_LIMIT: usize = 64 * 1024;
pub const FORM_LIMIT: usize = 16 * 1024;

/// The whole HTTP surface of Tessera.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(error::json_error),
    )
    .app_data(web::FormConfig::default().limit(FORM_LIMIT))
    .app_data(web::PayloadConfig::default().limit(JSON_LIMIT))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/v1/check", web::get().to(crate::access::http::check))
    .route("/v1/check", web::post().to(crate::access::http::check))
    .configure(crate::oauth::routes)
    .configure(crate::api::routes);
}
