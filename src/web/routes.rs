//! Every route of Tessera, in one table: the whole HTTP surface at a glance.

use actix_web::web;

use super::paths::*;
use super::{body, error, health, oauth, v1, well_known};

/// The whole HTTP surface of Tessera.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(body::JSON_LIMIT)
            .error_handler(error::json_error),
    )
    .app_data(web::FormConfig::default().limit(body::FORM_LIMIT))
    .app_data(web::PayloadConfig::default().limit(body::JSON_LIMIT))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    // Operations.
    .route(HEALTHZ_PATH, web::get().to(health::healthz))
    .route(READYZ_PATH, web::get().to(health::readyz))
    // Discovery (RFC 8414) and the public keys.
    .route(METADATA_PATH, web::get().to(well_known::metadata))
    .route(JWKS_PATH, web::get().to(well_known::jwks))
    // OAuth 2.0 (RFC 6749, 7009, 7662).
    .route(AUTHORIZE_PATH, web::get().to(oauth::authorize::get))
    .route(AUTHORIZE_PATH, web::post().to(oauth::authorize::post))
    .route(LOGIN_PATH, web::post().to(oauth::authorize::login))
    .route(TOKEN_PATH, web::post().to(oauth::token::token))
    .route(REVOKE_PATH, web::post().to(oauth::revoke::revoke))
    .route(
        INTROSPECT_PATH,
        web::post().to(oauth::introspect::introspect),
    )
    // The gateway check.
    .route(CHECK_PATH, web::get().to(v1::check::check))
    .route(CHECK_PATH, web::post().to(v1::check::check))
    // The management API.
    .service(
        web::scope(ORG_SCOPE)
            .route("/integrations", web::post().to(v1::integrations::create))
            .route("/integrations", web::get().to(v1::integrations::list))
            .route("/integrations/{id}", web::get().to(v1::integrations::show))
            .route(
                "/integrations/{id}",
                web::patch().to(v1::integrations::update),
            )
            .route(
                "/integrations/{id}/rotate",
                web::post().to(v1::integrations::rotate),
            )
            .route(
                "/integrations/{id}/expire",
                web::post().to(v1::integrations::expire),
            )
            .route(
                "/integrations/{id}/revoke",
                web::post().to(v1::integrations::revoke),
            )
            .route("/audit", web::get().to(v1::audit::list)),
    );
}
