//! Sign-in sessions and the anti-forgery tokens of the sign-in, consent and sign-out forms. The
//! browser holds the session id; the store keeps only its SHA-256. (The cookies that carry them
//! are the HTTP layer's.)

use subtle::ConstantTimeEq;

use crate::tokens::secret::{SecretHash, random_base62};

/// A new random session id (shown to the browser) and its hash (stored).
pub(crate) fn new_session_id() -> (String, SecretHash) {
    let id = random_base62(43);
    let hash = SecretHash::of(&id);
    (id, hash)
}

/// A new anti-forgery token: 32 base62 characters.
pub(crate) fn new_csrf_token() -> String {
    random_base62(32)
}

/// Whether `token` has the shape [`new_csrf_token`] gives.
pub(crate) fn is_csrf_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Compares a submitted anti-forgery token with the expected one in constant time.
pub(crate) fn csrf_matches(expected: &str, submitted: Option<&str>) -> bool {
    match submitted {
        Some(s) if !expected.is_empty() => expected.as_bytes().ct_eq(s.as_bytes()).into(),
        _ => false,
    }
}
