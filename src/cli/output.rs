//! What the CLI prints: one JSON value with `--json`, text otherwise; errors and exit codes.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::json;

use crate::admin::AdminError;
use crate::store::StoreError;

/// Prints a command's result: the JSON value, or the human text.
pub(super) fn emit<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<(), CliError> {
    if json {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| CliError::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        println!("{}", human());
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: validation, unknown names, duplicates. Exit code 2.
    #[error("{0}")]
    Input(String),
    /// The database or the process failed. Exit code 1.
    #[error("{0}")]
    Failure(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CliError {
    fn code(&self) -> &'static str {
        match self {
            CliError::Input(_) => "invalid_input",
            CliError::Failure(_) => "failure",
            CliError::Internal(_) => "internal",
        }
    }

    pub fn report(&self, json: bool) -> ExitCode {
        if json {
            eprintln!(
                "{}",
                json!({ "error": { "code": self.code(), "message": self.to_string() } })
            );
        } else {
            eprintln!("error: {self}");
        }
        match self {
            CliError::Input(_) => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }
}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(i) => CliError::Input(i.to_string()),
            AdminError::NotFound(what) => CliError::Input(format!("{what} not found")),
            AdminError::Conflict(m) => CliError::Input(m),
            AdminError::Forbidden(m) => CliError::Input(m),
            AdminError::Store(e) => e.into(),
            AdminError::Internal(m) => CliError::Internal(m),
            refused @ AdminError::PlanUpgradeRequired { .. } => CliError::Input(format!(
                "{refused} (tessera org set-plan, or tessera org feature)"
            )),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => CliError::Input("not found".into()),
            StoreError::Conflict(m) => CliError::Input(format!("already exists: {m}")),
            other => CliError::Failure(other.to_string()),
        }
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::Input(format!("configuration: {e}"))
    }
}
