//! `/v1/…`: the gateway check, the management API (integrations, webhooks, members, audit)
//! and GitHub's leak reports. JSON in and out, errors in the `/v1` envelope; every management call is
//! authorised by [`caller::acting`]; a leak report by its signature.

pub(crate) mod audit;
pub(crate) mod caller;
pub(crate) mod check;
pub(crate) mod integrations;
pub(crate) mod members;
pub(crate) mod secret_scanning;
pub(crate) mod webhooks;

use super::error::ApiError;

/// A page of a newest-first listing: at most `limit` rows, older than id `before`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    pub(crate) limit: Option<i64>,
    pub(crate) before: Option<i64>,
}

/// Durations arrive as whole seconds or as text such as `"90d"`.
#[derive(serde::Deserialize, Debug, Clone, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum DurationInput {
    Seconds(i64),
    Text(String),
}

impl DurationInput {
    /// The duration, or a 422 naming `field`.
    pub(crate) fn to_duration(&self, field: &'static str) -> Result<std::time::Duration, ApiError> {
        let parsed = match self {
            DurationInput::Seconds(s) => crate::duration::from_seconds(*s),
            DurationInput::Text(t) => crate::duration::parse(t),
        };
        parsed.map_err(|e| ApiError::unprocessable(format!("{field}: {e}")))
    }
}
