//! Time as the store keeps it: UTC, without zone, at microsecond precision (what PostgreSQL
//! keeps), so a value reads back equal on both backends.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

pub(crate) fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub(crate) fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// RFC 3339 with a `Z`, as every JSON answer shows times.
pub(crate) fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn unix(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

/// `#[serde(with = "crate::clock::as_rfc3339")]` for timestamps in JSON answers.
pub(crate) mod as_rfc3339 {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }
}

/// The same for optional timestamps (`null` when absent).
pub(crate) mod as_rfc3339_opt {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<NaiveDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::rfc3339(*t)),
            None => s.serialize_none(),
        }
    }
}
