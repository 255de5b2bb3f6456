//! Standard Webhooks signatures (standardwebhooks.com, "Signature scheme"): a symmetric secret
//! `whsec_` + base64 of 32 random bytes per endpoint, and `webhook-signature: v1,<base64
//! HMAC-SHA256 of "{id}.{timestamp}.{body}">` — one `v1,` entry per secret in force, space
//! separated, so a receiver holding either the old or the new secret verifies during a
//! rotation.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

const PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 32 random bytes in base64 (the specification asks for
/// 24 to 64).
pub(crate) fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header for a message signed with each of `secrets` (newest first).
/// A secret that does not decode is skipped; `None` when none does.
pub(crate) fn signature_header(
    secrets: &[String],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|s| sign(s, msg_id, timestamp, body))
        .collect();
    (!signatures.is_empty()).then(|| signatures.join(" "))
}

fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(msg_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Some(format!("v1,{}", STANDARD.encode(ctx.sign().as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_librarys_test_vector() {
        // libraries' shared test vector (standard-webhooks, e.g. python/tests/test_webhooks.py).
        let header = signature_header(
            &["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string()],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            header.as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
    }

    #[test]
    fn signs_with_every_secret_in_force_and_skips_broken_ones() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a != b);
        let both =
            signature_header(&[a.clone(), "nope".into(), b.clone()], "msg_1", 1, b"{}").unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            Some(parts[0]),
            signature_header(&[a], "msg_1", 1, b"{}").as_deref()
        );
        assert_eq!(signature_header(&["nope".into()], "msg_1", 1, b"{}"), None);
    }
}
