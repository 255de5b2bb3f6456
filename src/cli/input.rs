//! Arguments as the CLI reads them: a role, a duration (`24h`, `7d`); bad ones exit with 2.

use super::output::CliError;
use crate::roles::Role;

pub(super) fn parse_role(raw: &str) -> Result<Role, CliError> {
    raw.parse()
        .map_err(|e: crate::roles::UnknownRole| CliError::Input(e.to_string()))
}

pub(super) fn parse_duration(raw: &str) -> Result<std::time::Duration, CliError> {
    crate::duration::parse(raw).map_err(|e| CliError::Input(e.to_string()))
}
