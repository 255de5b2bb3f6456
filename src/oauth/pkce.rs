//! PKCE (RFC 7636), through oxide-auth's `Pkce` extension: the challenge taken at the
//! authorization endpoint and the verifier checked at the token endpoint.
//!
//! Required for public clients (RFC 9700 §2.1.1), honoured when a confidential client sends it;
//! `plain` is never accepted, only `S256`.

use std::borrow::Cow;

use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::primitives::grant::Value;

use crate::store::clients::ClientKind;

fn policy(kind: ClientKind) -> Pkce {
    match kind {
        ClientKind::Confidential => Pkce::optional(),
        ClientKind::Public => Pkce::required(),
    }
}

/// RFC 7636 §4.3–4.4: the challenge to store with the code (`None` when the client sent none
/// and may omit it). `Err` when it is required but missing, or its method is not `S256`.
pub(crate) fn challenge(
    kind: ClientKind,
    method: Option<&str>,
    challenge: Option<&str>,
) -> Result<Option<String>, ()> {
    let encoded =
        policy(kind).challenge(method.map(Cow::Borrowed), challenge.map(Cow::Borrowed))?;
    Ok(match encoded {
        Some(value) => value.into_private_value().map_err(|_| ())?,
        None => None,
    })
}

/// RFC 7636 §4.6: whether `verifier` answers the stored challenge. A verifier sent for a code
/// that had no challenge also fails (RFC 9700 §2.1.1, PKCE downgrade).
pub(crate) fn verify(kind: ClientKind, stored: Option<&str>, verifier: Option<&str>) -> bool {
    if stored.is_none() && verifier.is_some() {
        return false;
    }
    let stored = stored.map(|c| Value::private(Some(c.to_string())));
    policy(kind)
        .verify(stored, verifier.map(Cow::Borrowed))
        .is_ok()
}
