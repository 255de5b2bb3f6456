//! Human durations as operators type them: `30s`, `15m`, `12h`, `7d`, `90d`.

use std::time::Duration;

use thiserror::Error;

/// Ten years: longer is almost certainly a typo, and it keeps timestamps far from overflow.
const MAX: Duration = Duration::from_secs(10 * 365 * 86400);

#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum DurationError {
    #[error("{0:?} is not a duration such as 30s, 15m, 12h or 7d")]
    Invalid(String),
    #[error("{0:?} is longer than ten years")]
    TooLong(String),
}

pub(crate) fn parse(raw: &str) -> Result<Duration, DurationError> {
    let raw = raw.trim();
    // A bare number is ambiguous (seconds? days?), so a unit is required.
    if raw.is_empty() || raw.chars().all(|c| c.is_ascii_digit()) || raw.len() > 32 {
        return Err(DurationError::Invalid(raw.to_string()));
    }
    let d = humantime::parse_duration(raw).map_err(|_| DurationError::Invalid(raw.to_string()))?;
    if d > MAX {
        return Err(DurationError::TooLong(raw.to_string()));
    }
    Ok(d)
}

/// The shortest text [`parse`] reads back as `d`: the largest of `d`, `h`, `m`, `s` that
/// divides it (`86400` seconds → `"1d"`, `5400` → `"90m"`, zero → `"0s"`). Configured
/// durations are answered in this form, the one they are given in.
pub(crate) fn format(d: Duration) -> String {
    let secs = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs > 0 && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// [`format`] of a count of seconds (as the store keeps them); negative counts are zero.
pub(crate) fn format_seconds(seconds: i64) -> String {
    format(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

pub(crate) fn to_chrono(d: Duration) -> chrono::TimeDelta {
    // Bounded by MAX above, so this never saturates in practice.
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("12h"), Ok(Duration::from_secs(43200)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse("90d"), Ok(Duration::from_secs(90 * 86400)));
    }

    #[test]
    fn refuses_bare_numbers_garbage_and_huge_values() {
        assert!(parse("30").is_err());
        assert!(parse("").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("-5m").is_err());
        assert!(matches!(parse("99999d"), Err(DurationError::TooLong(_))));
    }

    #[test]
    fn formats_what_it_parses() {
        for (secs, text) in [
            (0, "0s"),
            (30, "30s"),
            (90, "90s"),
            (900, "15m"),
            (5400, "90m"),
            (43200, "12h"),
            (86400, "1d"),
            (30 * 86400, "30d"),
        ] {
            assert_eq!(format(Duration::from_secs(secs)), text);
            if secs > 0 {
                assert_eq!(parse(text), Ok(Duration::from_secs(secs)));
            }
        }
    }
}
