//! Arguments as the CLI reads them: a role, a duration (`24h`, `7d`), lists; bad ones exit
//! with 2.

use super::output::CliError;
use crate::roles::Role;

pub(super) fn parse_role(raw: &str) -> Result<Role, CliError> {
    raw.parse()
        .map_err(|e: crate::roles::UnknownRole| CliError::Input(e.to_string()))
}

pub(super) fn parse_duration(raw: &str) -> Result<std::time::Duration, CliError> {
    crate::duration::parse(raw).map_err(|e| CliError::Input(e.to_string()))
}

/// A repeatable option whose values may also hold several words (`--scope "a b" --scope c`):
/// one word per entry, as the HTTP API takes lists.
pub(super) fn words(values: Vec<String>) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split_ascii_whitespace())
        .map(str::to_string)
        .collect()
}
