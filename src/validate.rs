//! Input rules shared by the CLI and the HTTP API, so both refuse the same things with the same words.

use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Organization slugs appear in URLs: lowercase letters, digits and inner hyphens, 2–63 chars.
pub(crate) fn slug(raw: &str) -> Result<String, Invalid> {
    let ok = (2..=63).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(invalid(
            "slug",
            format!("{raw:?} must be 2-63 lowercase letters, digits or inner hyphens"),
        ))
    }
}

/// Usernames are compared case-insensitively, so they are stored lowercased.
pub(crate) fn username(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim().to_ascii_lowercase();
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+')
        })
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(name)
    } else {
        Err(invalid(
            "username",
            format!(
                "{raw:?} must be 1-64 letters, digits or . _ - @ +, starting with a letter or digit"
            ),
        ))
    }
}

/// Display names: 1–100 characters after trimming, no control characters.
pub(crate) fn name(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    let len = name.chars().count();
    if !(1..=100).contains(&len) {
        return Err(invalid(field, "must be 1-100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_string())
}

/// Free text: up to 1000 characters; line breaks allowed, other control characters not.
pub(crate) fn description(raw: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.chars().count() > 1000 {
        return Err(invalid("description", "must be at most 1000 characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(text.to_string())
}

pub(crate) fn password(raw: &str) -> Result<(), Invalid> {
    if raw.len() < 8 {
        return Err(invalid("password", "must be at least 8 characters"));
    }
    if raw.len() > 1024 {
        return Err(invalid("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

/// One scope token (RFC 6749 §3.3 allows more, we allow the printable subset people use).
pub(crate) fn scope_name(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-'))
        && raw.as_bytes()[0].is_ascii_alphabetic();
    if ok {
        Ok(raw.to_string())
    } else {
        Err(invalid(
            "scope",
            format!("{raw:?} must be 1-64 letters, digits or : . _ -, starting with a letter"),
        ))
    }
}

/// Scopes as the API and the CLI pass them, one name per entry: each valid, duplicates
/// removed, order kept, at most 64.
pub(crate) fn scope_names(raw: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::new();
    for name in raw {
        let name = scope_name(name)?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.len() > 64 {
        return Err(invalid("scope", "at most 64 scopes"));
    }
    Ok(out)
}

/// Redirect URIs are matched by exact string (RFC 9700 §4.1.3), so they are validated strictly:
/// absolute, no fragment (RFC 6749 §3.1.2), https — or http on a loopback host and private-use
/// schemes for native apps (RFC 8252 §7.1, §7.3).
pub(crate) fn redirect_uri(raw: &str) -> Result<String, Invalid> {
    if raw.len() > 2000 {
        return Err(invalid("redirect_uri", "must be at most 2000 characters"));
    }
    // Compared as sent, byte for byte: no whitespace or control character may hide in it.
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            "redirect_uri",
            "must not contain spaces or control characters",
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| {
        invalid(
            "redirect_uri",
            format!("{raw:?} is not an absolute URL: {e}"),
        )
    })?;
    if url.fragment().is_some() {
        return Err(invalid(
            "redirect_uri",
            format!("{raw:?} must not contain a fragment"),
        ));
    }
    if let Some(name) = response_parameter_in(&url) {
        return Err(invalid(
            "redirect_uri",
            format!(
                "{raw:?} must not have a query parameter {name:?}: the authorization response adds it"
            ),
        ));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let ok = match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => loopback,
        scheme => scheme.contains('.'),
    };
    if !ok {
        return Err(invalid(
            "redirect_uri",
            format!(
                "{raw:?} must use https (http only on a loopback host, or a private-use scheme such as com.example.app)"
            ),
        ));
    }
    Ok(raw.to_string())
}

/// The first query parameter of `url` that an authorization response adds itself (RFC 6749
/// §4.1.2, §4.1.2.1, RFC 9207): a redirect URI holding one would get it twice.
pub(crate) fn response_parameter_in(url: &url::Url) -> Option<String> {
    url.query_pairs()
        .map(|(name, _)| name.into_owned())
        .find(|name| {
            matches!(
                name.as_str(),
                "code" | "state" | "iss" | "error" | "error_description" | "error_uri"
            )
        })
}

/// A browser origin (RFC 6454): `scheme://host[:port]`, `https` (or `http` on a loopback
/// host), without path, query or fragment; returned in its serialised form.
pub(crate) fn origin(raw: &str) -> Result<String, Invalid> {
    let bad = |why: &str| invalid("cors_origin", format!("{raw:?} {why}"));
    let url = url::Url::parse(raw)
        .map_err(|_| bad("is not an origin such as https://app.example.com"))?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "must be an origin only: scheme, host and port, no path",
        ));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err(bad("must use https (http only on a loopback host)"));
    }
    Ok(url.origin().ascii_serialization())
}

/// A CIDR such as `10.0.0.0/8` or `2001:db8::/32`, or a single address.
pub(crate) fn network(raw: &str) -> Result<IpNet, Invalid> {
    let raw = raw.trim();
    if let Ok(net) = raw.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    raw.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| invalid("allow_ips", format!("{raw:?} is not an IP address or CIDR")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(slug("acme").is_ok());
        assert!(slug("acme-co-2").is_ok());
        for bad in ["a", "Acme", "-acme", "acme-", "ac me", "acmé", ""] {
            assert!(slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris() {
        assert!(redirect_uri("https://app.example.com/cb").is_ok());
        assert!(redirect_uri("http://127.0.0.1:9999/cb").is_ok());
        assert!(redirect_uri("http://localhost/cb").is_ok());
        assert!(redirect_uri("com.example.app:/oauth").is_ok());
        for bad in [
            "http://app.example.com/cb",
            "https://a.example/cb#x",
            "/cb",
            "javascript:alert(1)",
        ] {
            assert!(redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_lists_dedupe_and_validate() {
        let names = |v: &[&str]| scope_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(names(&["a", "b", "a"]).unwrap(), vec!["a", "b"]);
        assert!(names(&["a b"]).is_err(), "one name per entry");
        assert!(names(&["a", "\"b\""]).is_err());
    }

    #[test]
    fn networks() {
        assert_eq!(network("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(network("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(network("10.0.0.0/33").is_err());
    }
}
