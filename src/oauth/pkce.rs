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

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, unreserved being `[A-Za-z0-9-._~]`.
pub(crate) fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.2: an S256 challenge is `BASE64URL(SHA256(verifier))` without padding — exactly
/// 43 characters of the base64url alphabet, the last of which carries only 4 bits.
fn is_s256_challenge(challenge: &str) -> bool {
    use base64::Engine;
    challenge.len() == 43
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|digest| digest.len() == 32)
}

/// RFC 7636 §4.3–4.4: the challenge to store with the code (`None` when the client sent none
/// and may omit it). `Err` when it is required but missing, its method is not `S256`, or it
/// cannot be an S256 challenge.
pub(crate) fn challenge(
    kind: ClientKind,
    method: Option<&str>,
    challenge: Option<&str>,
) -> Result<Option<String>, ()> {
    if challenge.is_some_and(|c| !is_s256_challenge(c)) {
        return Err(());
    }
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
