//! `/v1/…`: the gateway check, the management API (integrations, clients, webhooks, members,
//! audit) and GitHub's leak reports. JSON in and out, errors in the `/v1` envelope; every
//! management call is authorised by [`caller::acting`]; a leak report by its signature.

pub(crate) mod audit;
pub(crate) mod caller;
pub(crate) mod check;
pub(crate) mod clients;
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

/// A duration in a request: text such as `"30s"`, `"24h"` or `"7d"`, as the CLI takes it
/// ([`crate::duration::parse`]). Anything else — a number above all, whose unit would be a
/// guess — is refused with a 422 that names the field. Request bodies declare such fields
/// `#[schema(value_type = String)]`.
#[derive(serde::Deserialize, Debug, Clone)]
#[serde(transparent)]
pub(crate) struct DurationInput(serde_json::Value);

impl DurationInput {
    /// The duration, or a 422 naming `field`.
    pub(crate) fn to_duration(&self, field: &'static str) -> Result<std::time::Duration, ApiError> {
        match &self.0 {
            serde_json::Value::String(t) => crate::duration::parse(t)
                .map_err(|e| ApiError::unprocessable(format!("{field}: {e}"))),
            other => Err(ApiError::unprocessable(format!(
                "{field}: a duration is a string such as \"24h\" or \"7d\", not {}",
                kind_of(other)
            ))),
        }
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number (it has no unit)",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
