//! Input as the CLI reads it: a role, a duration (`24h`, `7d`), lists, and a password from
//! stdin; bad ones exit with 2.

use std::io::BufRead;

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

/// The first line of stdin, without its line ending. Passwords never travel in argv, where
/// any local user could read them from the process list.
pub(super) fn read_password_line() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Input(format!("cannot read the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    crate::validate::password(&password).map_err(|e| CliError::Input(e.to_string()))?;
    Ok(password)
}
