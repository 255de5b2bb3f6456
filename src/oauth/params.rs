//! Request parameters for the token, revocation and introspection endpoints: a form body
//! (RFC 6749) or a JSON object (what many integrators send), and client credentials from
//! HTTP Basic or the body (RFC 6749 §2.3.1), normalised into one shape.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oxide_auth::code_grant::accesstoken as at;
use oxide_auth::code_grant::refresh as rf;

use super::errors::Refusal;

/// Whether `text` holds a control character (C0 or DEL).
pub(crate) fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_control())
}

/// A problem with the request itself, before any grant logic: `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRequest(pub(crate) String);

impl From<BadRequest> for Refusal {
    fn from(BadRequest(message): BadRequest) -> Self {
        Refusal::invalid_request(message)
    }
}

/// How the client authenticated, which decides the 401's `WWW-Authenticate` (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    Basic,
    Post,
    None,
}

#[derive(Clone)]
pub(crate) struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// The parameters of one request, each present at most once (RFC 6749 §3.2).
pub(crate) struct Params {
    values: HashMap<String, String>,
    pub credentials: Option<ClientCredentials>,
    /// The caller's address, set by the HTTP layer: client authentication failures are
    /// limited per address.
    pub source: Option<std::net::IpAddr>,
}

const MAX_PARAMS: usize = 32;

impl Params {
    /// Parses the body by its content type (the `Content-Type` header's value) and reads
    /// client credentials from the `Authorization` header's value or the body.
    pub(crate) fn parse(
        content_type: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Params, BadRequest> {
        let content_type = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let pairs = match content_type.as_str() {
            "application/x-www-form-urlencoded" => parse_form(body)?,
            "application/json" => parse_json(body)?,
            "" if body.is_empty() => Vec::new(),
            other => {
                return Err(BadRequest(format!(
                    "unsupported content type {other:?}: send application/x-www-form-urlencoded or application/json"
                )));
            }
        };
        if pairs.len() > MAX_PARAMS {
            return Err(BadRequest("too many parameters".into()));
        }
        let mut values = HashMap::new();
        for (k, v) in pairs {
            // RFC 6749 Appendix A: no parameter holds a control character (and PostgreSQL
            // cannot store NUL).
            if has_control(&k) || has_control(&v) {
                return Err(BadRequest(format!(
                    "parameter {:?} holds a control character",
                    k.escape_debug().to_string()
                )));
            }
            if values.contains_key(&k) {
                return Err(BadRequest(format!(
                    "parameter {k:?} appears more than once"
                )));
            }
            // RFC 6749 §3.1: parameters sent without a value are treated as omitted.
            if !v.is_empty() {
                values.insert(k, v);
            }
        }
        let credentials = credentials(authorization, &mut values)?;
        Ok(Params {
            values,
            credentials,
            source: None,
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn cow(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).map(Cow::Borrowed)
    }
}

fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, BadRequest> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| BadRequest("the form body cannot be parsed".into()))
}

/// A JSON object's members in order, each one kept — a map would keep only the last of two
/// members with the same name, and the request must be refused instead (RFC 6749 §3.2).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    if members.len() > MAX_PARAMS {
                        return Err(serde::de::Error::custom("too many parameters"));
                    }
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn parse_json(body: &[u8]) -> Result<Vec<(String, String)>, BadRequest> {
    let Members(members) = serde_json::from_slice(body)
        .map_err(|_| BadRequest("the body is not a JSON object".into()))?;
    members
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Null => Ok((k, String::new())),
            _ => Err(BadRequest(format!("parameter {k:?} must be a string"))),
        })
        .collect()
}

/// Client credentials from `Authorization: Basic` or the body, never both (RFC 6749 §2.3).
/// A body `client_id` equal to the Basic one is tolerated (many libraries send both).
fn credentials(
    authorization: Option<&str>,
    values: &mut HashMap<String, String>,
) -> Result<Option<ClientCredentials>, BadRequest> {
    let body_id = values.remove("client_id");
    let body_secret = values.remove("client_secret");
    let basic = match authorization {
        None => None,
        Some(v) => {
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(BadRequest(
                    "the Authorization header must use the Basic scheme".into(),
                ));
            }
            Some(decode_basic(rest.trim())?)
        }
    };
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(BadRequest(
            "client credentials were sent both in the Authorization header and in the body".into(),
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(BadRequest(
            "client_id in the body differs from the Authorization header".into(),
        )),
        (Some((client_id, secret)), _, None) => Ok(Some(ClientCredentials {
            client_id,
            secret: Some(secret),
            method: AuthMethod::Basic,
        })),
        (None, Some(client_id), secret) => {
            let method = if secret.is_some() {
                AuthMethod::Post
            } else {
                AuthMethod::None
            };
            Ok(Some(ClientCredentials {
                client_id,
                secret,
                method,
            }))
        }
        (None, None, Some(_)) => Err(BadRequest("client_secret without client_id".into())),
        (None, None, None) => Ok(None),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn decode_basic(encoded: &str) -> Result<(String, String), BadRequest> {
    let bad = || BadRequest("malformed Basic credentials".into());
    let raw = STANDARD.decode(encoded).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(bad)
    };
    let (id, secret) = (decode(id)?, decode(secret)?);
    if id.is_empty() || has_control(&id) || has_control(&secret) {
        return Err(bad());
    }
    Ok((id, secret))
}

impl at::Request for Params {
    fn valid(&self) -> bool {
        true
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.cow("code")
    }

    fn authorization(&self) -> at::Authorization<'_> {
        match &self.credentials {
            Some(ClientCredentials {
                client_id,
                secret: Some(secret),
                ..
            }) => at::Authorization::UsernamePassword(
                Cow::Borrowed(client_id),
                Cow::Borrowed(secret.as_bytes()),
            ),
            Some(ClientCredentials { client_id, .. }) => {
                at::Authorization::Username(Cow::Borrowed(client_id))
            }
            None => at::Authorization::None,
        }
    }

    /// Folded into `authorization()`: oxide-auth would count it twice.
    fn client_id(&self) -> Option<Cow<'_, str>> {
        None
    }

    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.cow("redirect_uri")
    }

    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.cow("grant_type")
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.cow(key)
    }
}

impl rf::Request for Params {
    fn valid(&self) -> bool {
        true
    }

    fn refresh_token(&self) -> Option<Cow<'_, str>> {
        self.cow("refresh_token")
    }

    fn scope(&self) -> Option<Cow<'_, str>> {
        self.cow("scope")
    }

    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.cow("grant_type")
    }

    /// Only a confidential client authenticates here; a public client's `client_id` is checked
    /// against the token's client by the issuer.
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        match &self.credentials {
            Some(ClientCredentials {
                client_id,
                secret: Some(secret),
                ..
            }) => Some((Cow::Borrowed(client_id), Cow::Borrowed(secret.as_bytes()))),
            _ => None,
        }
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.cow(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn parse(
        content_type: Option<&str>,
        basic: Option<&str>,
        body: &str,
    ) -> Result<Params, BadRequest> {
        Params::parse(content_type, basic, body.as_bytes())
    }

    #[test]
    fn form_and_json_bodies_read_the_same() {
        let f = parse(
            FORM,
            None,
            "grant_type=refresh_token&refresh_token=abc&client_id=c1",
        )
        .unwrap();
        let j = parse(
            Some("application/json; charset=utf-8"),
            None,
            r#"{"grant_type":"refresh_token","refresh_token":"abc","client_id":"c1"}"#,
        )
        .unwrap();
        for p in [f, j] {
            assert_eq!(p.get("refresh_token"), Some("abc"));
            let c = p.credentials.unwrap();
            assert_eq!((c.client_id.as_str(), c.method), ("c1", AuthMethod::None));
        }
    }

    #[test]
    fn duplicates_and_mixed_credentials_are_refused() {
        assert!(parse(FORM, None, "code=a&code=b").is_err());
        let basic = format!("Basic {}", STANDARD.encode("c1:s%3Ax"));
        assert!(parse(FORM, Some(&basic), "client_secret=x").is_err());
        assert!(parse(FORM, Some(&basic), "client_id=other").is_err());
        let p = parse(FORM, Some(&basic), "client_id=c1").unwrap();
        let c = p.credentials.unwrap();
        assert_eq!(c.secret.as_deref(), Some("s:x"));
        assert_eq!(c.method, AuthMethod::Basic);
        assert!(parse(FORM, None, "client_secret=x").is_err());
        assert!(parse(Some("text/plain"), None, "x").is_err());
        assert!(parse(Some("application/json"), None, r#"{"a":1}"#).is_err());
    }
}
