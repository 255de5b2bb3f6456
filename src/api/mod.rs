//! The management API under `/v1/orgs/{org}`: JSON in and out, errors in the `/v1`
//! envelope, every call authorised by [`auth::authorize`].

pub mod audit;
pub mod auth;
pub mod integrations;

use actix_web::web;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/orgs/{org}")
            .route("/integrations", web::post().to(integrations::create))
            .route("/integrations", web::get().to(integrations::list))
            .route("/integrations/{id}", web::get().to(integrations::show))
            .route("/integrations/{id}", web::patch().to(integrations::update))
            .route(
                "/integrations/{id}/rotate",
                web::post().to(integrations::rotate),
            )
            .route(
                "/integrations/{id}/expire",
                web::post().to(integrations::expire),
            )
            .route(
                "/integrations/{id}/revoke",
                web::post().to(integrations::revoke),
            )
            .route("/audit", web::get().to(audit::list)),
    );
}

/// A JSON body that may be omitted (`POST …/rotate` with no options).
pub fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Durations arrive as whole seconds or as text such as `"90d"`.
#[derive(serde::Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum DurationInput {
    Seconds(i64),
    Text(String),
}

impl DurationInput {
    pub fn to_duration(&self, field: &'static str) -> Result<std::time::Duration, ApiError> {
        let parsed = match self {
            DurationInput::Seconds(s) => crate::duration::from_seconds(*s),
            DurationInput::Text(t) => crate::duration::parse(t),
        };
        parsed.map_err(|e| ApiError::unprocessable(format!("{field}: {e}")))
    }
}
