//! The shape of every opaque secret Tessera issues (DESIGN.md, "Secret formats"):
//! `{brand}_{kind}_{32 random base62}{6-char base62 CRC32}`.
//!
//! The checksum lets a resource server (and secret scanners) refuse a mistyped or truncated token
//! without a database round trip; the SHA-256 of the whole token is what the store keeps.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// Characters shown in listings so that people can tell tokens apart (`tsr_live_Ab3`).
pub const DISPLAY_PREFIX_LEN: usize = 12;

/// What a secret is for; the middle part of its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// Private-integration token for production use.
    Live,
    /// Private-integration token for test environments.
    Test,
    ClientSecret,
    RefreshToken,
}

impl SecretKind {
    pub fn tag(self) -> &'static str {
        match self {
            SecretKind::Live => "live",
            SecretKind::Test => "test",
            SecretKind::ClientSecret => "cs",
            SecretKind::RefreshToken => "rt",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        Some(match tag {
            "live" => SecretKind::Live,
            "test" => SecretKind::Test,
            "cs" => SecretKind::ClientSecret,
            "rt" => SecretKind::RefreshToken,
            _ => return None,
        })
    }

    pub fn is_integration(self) -> bool {
        matches!(self, SecretKind::Live | SecretKind::Test)
    }
}

/// SHA-256 of a whole secret: what is stored and looked up. Secrets are high-entropy, so a fast
/// hash is right here (argon2 is for human passwords).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time confirmation of a row found by hash: the index look-up is by value, so
    /// the final equality must not leak how many bytes matched.
    pub fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == 32 && bool::from(self.0.as_slice().ct_eq(stored))
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A freshly minted secret. Its `Debug` never prints the value, so it cannot reach a log by accident.
pub struct NewSecret {
    pub plaintext: String,
    pub hash: SecretHash,
    pub prefix: String,
    pub last4: String,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSecret({}…{})", self.prefix, self.last4)
    }
}

pub fn validate_brand(brand: &str) -> Result<(), String> {
    if (2..=10).contains(&brand.len())
        && brand
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "{brand:?} must be 2-10 lowercase letters or digits"
        ))
    }
}

pub fn random_base62(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // 62^6 > 2^32, so every CRC32 fits in six digits.
    digits.iter().map(|&b| char::from(b)).collect()
}

pub fn mint(brand: &str, kind: SecretKind) -> NewSecret {
    let body = format!("{brand}_{}_{}", kind.tag(), random_base62(RANDOM_LEN));
    let plaintext = format!("{body}{}", checksum(&body));
    NewSecret {
        hash: SecretHash::of(&plaintext),
        prefix: plaintext[..DISPLAY_PREFIX_LEN].to_string(),
        last4: plaintext[plaintext.len() - 4..].to_string(),
        plaintext,
    }
}

/// What the text of a presented secret says it is, once its shape and checksum hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedSecret {
    pub kind: SecretKind,
    pub hash: SecretHash,
}

/// Checks shape and checksum without touching any store. `None` for anything that is not a
/// well-formed secret of this deployment's brand.
pub fn parse(brand: &str, token: &str) -> Option<ParsedSecret> {
    let rest = token.strip_prefix(brand)?.strip_prefix('_')?;
    let (tag, tail) = rest.split_once('_')?;
    let kind = SecretKind::from_tag(tag)?;
    if tail.len() != RANDOM_LEN + CHECKSUM_LEN || !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (body, sum) = token.split_at(token.len() - CHECKSUM_LEN);
    if checksum(body).as_bytes().ct_eq(sum.as_bytes()).into() {
        Some(ParsedSecret {
            kind,
            hash: SecretHash::of(token),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_have_the_documented_shape_and_a_valid_checksum() {
        for kind in [
            SecretKind::Live,
            SecretKind::Test,
            SecretKind::ClientSecret,
            SecretKind::RefreshToken,
        ] {
            let s = mint("tsr", kind);
            let expected_prefix = format!("tsr_{}_", kind.tag());
            assert!(s.plaintext.starts_with(&expected_prefix));
            assert_eq!(s.plaintext.len(), expected_prefix.len() + 38);
            assert_eq!(s.prefix, &s.plaintext[..12]);
            let parsed = parse("tsr", &s.plaintext).expect("valid");
            assert_eq!(parsed.kind, kind);
            assert_eq!(parsed.hash, s.hash);
        }
    }

    #[test]
    fn checksum_is_crc32_in_base62_left_padded() {
        // CRC32("") = 0 -> "000000"; CRC32("a") = 0xE8B7BE43 = 3904355907.
        assert_eq!(checksum(""), "000000");
        let mut n: u64 = 3_904_355_907;
        let mut s = Vec::new();
        while n > 0 {
            s.push(BASE62[(n % 62) as usize]);
            n /= 62;
        }
        s.reverse();
        let expected = format!("{:0>6}", String::from_utf8(s).unwrap());
        assert_eq!(checksum("a"), expected);
    }

    #[test]
    fn a_changed_character_or_wrong_brand_fails_the_check() {
        let s = mint("tsr", SecretKind::Live).plaintext;
        let mut bad = s.clone().into_bytes();
        bad[15] = if bad[15] == b'a' { b'b' } else { b'a' };
        assert!(parse("tsr", std::str::from_utf8(&bad).unwrap()).is_none());
        assert!(parse("acme", &s).is_none());
        assert!(parse("tsr", &s[..s.len() - 1]).is_none());
        assert!(parse("tsr", "tsr_live_").is_none());
        assert!(parse("tsr", "").is_none());
    }
}
